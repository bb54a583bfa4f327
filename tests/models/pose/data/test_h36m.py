"""prepare-h36m: VideoPose3D files into the prepared format."""
import numpy as np
import pytest

from models.pose.data.format import load_prepared
from models.pose.data.h36m import prepare_h36m


def _videopose3d_files(tmp_path, prepared):
    """VideoPose3D-style pickled inputs built from the fixture data."""
    pos3d, pos2d = {}, {}
    kp = prepared.keypoints_2d['gt']
    for seq in prepared.sequences:
        s, a, st, n = seq['subject'], seq['action'], seq['start'], \
            seq['length']
        full = np.zeros((n, 32, 3), np.float32)
        keep = [i for i in range(32) if i not in (4, 5, 9, 10, 11, 16, 20,
                                                   21, 22, 23, 24, 28, 29,
                                                   30, 31)]
        full[:, keep] = prepared.positions_3d[st:st + n]
        pos3d.setdefault(s, {})[a] = full
        # detections two frames shorter, as the CPN files sometimes are
        pos2d.setdefault(s, {})[a] = [kp[c, st:st + n - 2] for c in range(4)]
    np.savez(tmp_path / 'data_3d_h36m.npz', positions_3d=pos3d)
    np.savez(tmp_path / 'data_2d_h36m_gt.npz', positions_2d=pos2d,
             metadata={'keypoints_symmetry': [[4, 5, 6, 11, 12, 13],
                                              [1, 2, 3, 14, 15, 16]]})
    return tmp_path / 'data_3d_h36m.npz', tmp_path / 'data_2d_h36m_gt.npz'


def test_prepare_h36m(tmp_path, prepared):
    p3, p2 = _videopose3d_files(tmp_path, prepared)
    with pytest.warns(UserWarning, match='trusted source'):
        data = prepare_h36m(p3, [p2], tmp_path / 'h36m.npz')
    back = load_prepared(tmp_path / 'h36m.npz')
    assert [s['length'] for s in back.sequences] == [28, 23, 18]
    assert back.train_subjects == ['S1', 'S5'] and back.test_subjects == \
        ['S9']
    np.testing.assert_allclose(back.positions_3d[:28],
                               prepared.positions_3d[:28])
    np.testing.assert_allclose(back.camera_R, prepared.camera_R, atol=1e-6)
    assert data.meta['sources_2d'] == ['gt']


def test_prepare_h36m_bad_inputs(tmp_path, prepared):
    p3, p2 = _videopose3d_files(tmp_path, prepared)
    np.savez(tmp_path / 'wrong.npz', poses=np.zeros(3))
    with pytest.warns(UserWarning), pytest.raises(
            ValueError, match="lacks the key 'positions_3d'"):
        prepare_h36m(tmp_path / 'wrong.npz', [p2], tmp_path / 'o.npz')
    with pytest.raises(FileNotFoundError):
        prepare_h36m(tmp_path / 'missing.npz', [p2], tmp_path / 'o.npz')
    assert not (tmp_path / 'o.npz').exists()

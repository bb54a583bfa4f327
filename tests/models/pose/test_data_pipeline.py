
import numpy as np
import pytest
import torch

from models.pose.camera import (
    camera_to_world,
    load_h36m_cameras,
    normalize_screen,
    project_to_pixels,
    unnormalize_screen,
    world_to_camera,
)
from models.pose.data.format import load_prepared, save_prepared
from models.pose.data.h36m import prepare_h36m
from models.pose.data.loader import PoseWindows, flip_poses
from models.pose.data.mpi3dhp import prepare_3dhp
from models.pose.skeleton import H36M_16, H36M_17


def test_camera_round_trip_and_principal_point():
    cam = load_h36m_cameras()['S9'][2]
    pts = np.random.default_rng(0).normal(0, 1, (10, 3))
    back = camera_to_world(world_to_camera(pts, cam.R, cam.t), cam.R, cam.t)
    np.testing.assert_allclose(back, pts, atol=1e-12)
    # the camera centre maps to the origin of the camera frame
    np.testing.assert_allclose(world_to_camera(cam.t, cam.R, cam.t), 0,
                               atol=1e-12)
    on_axis = np.array([[0.0, 0.0, 4.0]])
    np.testing.assert_allclose(project_to_pixels(on_axis, cam.intrinsics),
                               cam.intrinsics[None, 2:4])
    px = np.array([[0.0, 0.0], [1000.0, 1002.0], [512.0, 300.0]])
    norm = normalize_screen(px, 1000, 1002)
    np.testing.assert_allclose(norm[0], [-1, -1.002])
    np.testing.assert_allclose(unnormalize_screen(norm, 1000, 1002), px)


def test_cameras_of_every_public_subject_are_rotations():
    cams = load_h36m_cameras()
    assert sorted(cams) == sorted(['S1', 'S5', 'S6', 'S7', 'S8', 'S9',
                                   'S11'])
    for subject in cams.values():
        for cam in subject:
            np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3),
                                       atol=1e-6)
            assert 3.0 < np.linalg.norm(cam.t) < 8.0  # metres, not mm


def test_format_round_trip(tmp_path, prepared):
    path = save_prepared(tmp_path / 'a.npz', prepared)
    back = load_prepared(path)
    assert back.meta == prepared.meta
    np.testing.assert_array_equal(back.positions_3d, prepared.positions_3d)
    np.testing.assert_array_equal(back.keypoints_2d['gt'],
                                  prepared.keypoints_2d['gt'])
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only
        assert 'keypoints_2d__gt' in npz.files


def test_invalid_data_is_not_written(tmp_path, prepared):
    path = save_prepared(tmp_path / 'a.npz', prepared)
    before = path.read_bytes()
    prepared.positions_3d[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"'positions_3d' holds NaN"):
        save_prepared(path, prepared)
    assert path.read_bytes() == before  # the good file survives
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize('corrupt, message', [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), 'not a readable'),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
     'not a readable'),
])
def test_corrupt_files_are_refused(tmp_path, prepared, corrupt, message):
    path = save_prepared(tmp_path / 'a.npz', prepared)
    corrupt(path)
    with pytest.raises(ValueError, match=message):
        load_prepared(path)


def test_wrong_shape_missing_key_and_pickles_are_refused(tmp_path, prepared):
    good = save_prepared(tmp_path / 'a.npz', prepared)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bad = dict(arrays, positions_3d=arrays['positions_3d'][:, :16])
    np.savez(tmp_path / 'shape.npz', **bad)
    with pytest.raises(ValueError, match=r"'positions_3d' has shape "
                       r"\[75, 16, 3\], expected \[75, 17, 3\]"):
        load_prepared(tmp_path / 'shape.npz')
    missing = {k: v for k, v in arrays.items() if k != 'camera_R'}
    np.savez(tmp_path / 'missing.npz', **missing)
    with pytest.raises(ValueError, match="lacks the key 'camera_R'"):
        load_prepared(tmp_path / 'missing.npz')
    evil = dict(arrays, meta=np.array([{'a': 1}], dtype=object))
    np.savez(tmp_path / 'pickled.npz', **evil)
    with pytest.raises(ValueError, match='pickled objects'):
        load_prepared(tmp_path / 'pickled.npz')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_prepared(tmp_path / 'nope.npz')


def test_windows_edge_padding_and_targets(prepared):
    windows = PoseWindows(prepared, frames=5, subjects=['S1'])
    assert len(windows) == 30 * 4  # 30 frames x 4 cameras
    idx = windows.window_indices(np.array([0, 1, 29, 30]))
    np.testing.assert_array_equal(idx[0], [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(idx[1], [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(idx[2], [27, 28, 29, 29, 29])
    np.testing.assert_array_equal(idx[3], [30, 30, 30, 31, 32])  # camera 2
    inputs, targets = windows.get_batch([0, 2])
    assert inputs.shape == (2, 5, 17, 2) and targets.shape == (2, 17, 3)
    assert inputs.dtype == np.float32
    np.testing.assert_array_equal(targets[:, 0], 0)  # root-relative
    # the target is the centre frame: camera-frame depth is positive
    assert (targets[:, 1:, 2] + 5 > 0).all()


def test_windows_stride_subjects_and_16_joints(prepared):
    full = PoseWindows(prepared, subjects=['S1', 'S5'])
    strided = PoseWindows(prepared, subjects=['S1', 'S5'], stride=3)
    assert len(full) == (30 + 25) * 4
    assert len(strided) == (10 + 9) * 4
    w16 = PoseWindows(prepared, joints=16, subjects=['S9'])
    x16, y16 = w16.get_batch([0])
    x17, y17 = PoseWindows(prepared, subjects=['S9']).get_batch([0])
    np.testing.assert_array_equal(y16[0], np.delete(y17[0], 9, axis=0))
    assert set(w16.actions) == {'Walking 2'}
    with pytest.raises(ValueError, match="no sequence of subjects"):
        PoseWindows(prepared, subjects=['S7'])
    with pytest.raises(ValueError, match="2D source 'cpn'"):
        PoseWindows(prepared, source='cpn')


@pytest.mark.parametrize('skeleton', [H36M_17, H36M_16])
def test_flip_is_its_own_inverse_and_swaps_sides(skeleton):
    j = skeleton.num_joints
    poses = torch.randn(4, 3, j, 3)
    flipped = flip_poses(poses, skeleton.flip_permutation)
    torch.testing.assert_close(flip_poses(flipped, skeleton.flip_permutation),
                               poses)
    for left, right in zip(skeleton.left, skeleton.right):
        torch.testing.assert_close(flipped[..., left, 1:],
                                   poses[..., right, 1:])
        torch.testing.assert_close(flipped[..., left, 0],
                                   -poses[..., right, 0])
    assert 'left_hip' in skeleton.names[skeleton.left[0]]


def test_ddp_shards_cover_the_global_batch(prepared):
    windows = PoseWindows(prepared, frames=3)
    one = list(windows.iterate_batches(8, seed=1, epoch=2,
                                       flip_augment=True))
    shards = [list(windows.iterate_batches(8, seed=1, epoch=2,
                                           flip_augment=True, rank=r,
                                           world_size=2)) for r in range(2)]
    for b, (x, y) in enumerate(one):
        x0, y0 = shards[0][b]
        x1, y1 = shards[1][b]
        torch.testing.assert_close(x[0::2], x0)
        torch.testing.assert_close(x[1::2], x1)
        torch.testing.assert_close(y[1::2], y1)
    again = list(windows.iterate_batches(8, seed=1, epoch=2,
                                         flip_augment=True))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(one, again))
    other = next(windows.iterate_batches(8, seed=1, epoch=3))
    assert not torch.equal(other[0], one[0][0])


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


def test_prepare_3dhp(tmp_path):
    rng = np.random.default_rng(0)
    p3 = rng.normal(0, 300, (12, 17, 3)) + [0, 0, 4000]
    p2 = rng.uniform(0, 2048, (12, 17, 2))
    seq = np.array(['TS1'] * 7 + ['TS5'] * 5)
    np.savez(tmp_path / '3dhp.npz', pose3d=p3, pose2d=p2, seq=seq)
    prepare_3dhp(tmp_path / '3dhp.npz', tmp_path / 'out.npz')
    data = load_prepared(tmp_path / 'out.npz')
    assert [s['subject'] for s in data.sequences] == ['TS1', 'TS5']
    np.testing.assert_array_equal(data.camera_resolution[:, 0],
                                  [[2048, 2048], [1920, 1080]])
    np.testing.assert_allclose(data.positions_3d, p3 / 1000, rtol=1e-6)
    windows = PoseWindows(data, subjects=data.test_subjects)
    _, targets = windows.get_batch([0])
    np.testing.assert_allclose(targets[0], (p3[0] - p3[0, 0]) / 1000,
                               rtol=1e-5, atol=1e-6)
    np.savez(tmp_path / 'bad.npz', pose3d=p3)
    with pytest.raises(ValueError, match="lacks the key 'pose2d'"):
        prepare_3dhp(tmp_path / 'bad.npz', tmp_path / 'out2.npz')

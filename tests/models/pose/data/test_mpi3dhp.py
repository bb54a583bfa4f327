"""prepare-3dhp: the MPI-INF-3DHP test npz into the prepared format."""
import numpy as np
import pytest

from models.pose.data.format import load_prepared
from models.pose.data.loader import PoseWindows
from models.pose.data.mpi3dhp import prepare_3dhp


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


def test_a_lying_npy_header_is_one_error_naming_the_file(tmp_path):
    """A ``pose2d`` header claiming 8 PB was an ``_ArrayMemoryError``; it
    is read before anything is allocated, and nothing is written."""
    import io
    import zipfile

    from numpy.lib import format as npy
    header = io.BytesIO()
    npy.write_array_header_1_0(header, {'descr': '<f8', 'shape': (
        10 ** 9, 17, 2), 'fortran_order': False})
    path = tmp_path / 'lying.npz'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('pose2d.npy', header.getvalue() + b'\0' * 272)
        archive.writestr('pose3d.npy', header.getvalue())
    with pytest.raises(ValueError, match=(
            r"^--data .*lying.npz: array 'pose2d' declares shape "
            r"\[1000000000, 17, 2\] of float64 \(272000000000 bytes\) but "
            r"holds only 272 bytes \(the file is damaged or truncated\)$")):
        prepare_3dhp(path, tmp_path / 'out.npz')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lying.npz']

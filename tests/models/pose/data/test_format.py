"""The prepared format: round trip, validation, refusal of bad files."""
import re

import numpy as np
import pytest

from models.pose.data.camera import load_h36m_cameras
from models.pose.data.format import (
    assemble_prepared,
    fingerprint,
    load_prepared,
    save_prepared,
    validate,
)


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


def test_assemble_prepared_concatenates_in_storage_order(prepared):
    cams = load_h36m_cameras()
    lengths = [s['length'] for s in prepared.sequences]
    cuts = np.cumsum(lengths)[:-1]
    data = assemble_prepared(
        prepared.meta, np.split(prepared.positions_3d, cuts),
        [cams[s['subject']] for s in prepared.sequences],
        {'gt': np.split(prepared.keypoints_2d['gt'], cuts, axis=1)})
    validate(data)
    assert fingerprint(data) == fingerprint(prepared)
    assert data.camera_resolution.dtype == np.int32
    assert data.camera_R.dtype == np.float32


def _with_extra_split(prepared, subjects=('S9b',)):
    """The fixture with S9's sequence renamed into an extra split."""
    prepared.meta['sequences'][-1]['subject'] = subjects[0]
    prepared.meta['test_subjects'] = ['S5']
    prepared.meta['train_subjects'] = ['S1']
    prepared.meta['extra_test_splits'] = {'new-body': list(subjects)}
    return prepared


def test_extra_test_splits_round_trip(tmp_path, prepared):
    assert prepared.extra_test_splits == {}  # files without the key
    path = save_prepared(tmp_path / 'a.npz', _with_extra_split(prepared))
    assert load_prepared(path).extra_test_splits == {'new-body': ['S9b']}


@pytest.mark.parametrize('splits, message', [
    ({'new-body': ['S5']}, "already in test_subjects"),
    ({'new-body': ['S1']}, "already in train_subjects"),
    ({'a': ['S9b'], 'b': ['S9b']}, "already in extra test split 'a'"),
    ({'new-body': ['NB']}, 'which no sequence has'),
    ({'new-body': []}, 'non-empty list'),
    (['S9b'], 'must be an object'),
])
def test_bad_extra_test_splits_are_refused(prepared, splits, message):
    _with_extra_split(prepared)
    prepared.meta['extra_test_splits'] = splits
    with pytest.raises(ValueError, match=message):
        validate(prepared)


def _lying_member(src, dst, key, shape):
    """A copy of the .npz ``src`` whose array ``key`` keeps its bytes under
    an npy header claiming ``shape``."""
    import io
    import zipfile

    from numpy.lib import format as npy
    with zipfile.ZipFile(src) as archive, \
            zipfile.ZipFile(dst, 'w') as out:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == f'{key}.npy':
                array = npy.read_array(io.BytesIO(data))
                header = io.BytesIO()
                npy.write_array_header_1_0(header, {
                    'descr': npy.dtype_to_descr(array.dtype),
                    'fortran_order': False, 'shape': shape})
                data = header.getvalue() + array.tobytes()
            out.writestr(info.filename, data)
    return dst


@pytest.mark.parametrize('shape, declared', [
    ((10 ** 9, 10 ** 6, 3), r'12000000000000000 bytes'),  # was a MemoryError
    ((76, 17, 3), r'15504 bytes'),  # one frame more: was "EOF: reading"
])
def test_a_lying_npy_header_names_the_file_and_array(tmp_path, prepared,
                                                     shape, declared):
    path = _lying_member(save_prepared(tmp_path / 'a.npz', prepared),
                         tmp_path / 'lying.npz', 'positions_3d', shape)
    with pytest.raises(ValueError) as caught:
        load_prepared(path)
    message = str(caught.value)
    assert message.startswith(f'prepared data file {path}: ')
    assert f"array 'positions_3d' declares shape {list(shape)} of " \
        f"float32 (" in message
    assert re.search(declared + r'\) but holds only 15300 bytes', message)

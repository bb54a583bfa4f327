"""Checked .npz/.npy reading: hand-made damaged files, each refused with
one line naming the file and the array, before any large allocation."""
import io
import os
import re
import struct
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy

from models.common.npz import load_npy_checked, load_npz_checked

HUGE = (10 ** 9, 10 ** 6)  # 8 PB of float64: np.load would try


def _npy(shape, descr='<f8', data=b'\0' * 16):
    """npy bytes whose header claims ``shape`` over ``data``."""
    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {'descr': descr, 'shape': shape,
                                        'fortran_order': False})
    return buffer.getvalue() + data


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _patch_directory(path, field_offset, value):
    """Overwrite a 4-byte field of the first central directory entry."""
    data = bytearray(path.read_bytes())
    entry = data.index(b'PK\x01\x02')
    data[entry + field_offset:entry + field_offset + 4] = struct.pack(
        '<I', value)
    path.write_bytes(bytes(data))
    return path


def _flip_data_byte(path):
    data = bytearray(path.read_bytes())
    data[data.index(b'}') + 20] ^= 0x01  # inside the stored array data
    path.write_bytes(bytes(data))
    return path


def _good(path):
    np.savez(path, keypoints=np.arange(12.0).reshape(2, 3, 2))
    return path


# in the central directory entry: compressed size at 20, uncompressed at 24
CASES = [
    ('a header claiming 8 PB', lambda p: _zip(p, {'keypoints.npy':
                                                  _npy(HUGE)}),
     ValueError, r"^keypoint file .*x.npz: array 'keypoints' declares "
     r"shape \[1000000000, 1000000\] of float64 \(8000000000000000 bytes\) "
     r"but holds only 16 bytes \(the file is damaged or truncated\)$"),
    ('the same, compressed', lambda p: _zip(
        p, {'keypoints.npy': _npy(HUGE)}, zipfile.ZIP_DEFLATED),
     ValueError, r"declares shape \[1000000000, 1000000\] .* holds only 16"),
    ('a header claiming a little more', lambda p: _zip(
        p, {'k.npy': _npy((5, 17, 2), '<f4', b'\0' * (5 * 17 * 4))}),
     ValueError, r"array 'k' declares shape \[5, 17, 2\] of float32 \(680 "
     r"bytes\) but holds only 340 bytes"),
    ('a directory entry past the end', lambda p: _patch_directory(
        _patch_directory(_good(p), 20, 10 ** 8), 24, 10 ** 8),
     ValueError, r"array 'keypoints' is cut short: the zip directory puts "
     r"its 100000000 bytes at offset 0, past the end of the \d+-byte file"),
    ('an impossible compression ratio', lambda p: _patch_directory(
        _zip(p, {'k.npy': _npy((2, ))}, zipfile.ZIP_DEFLATED), 24,
        2 ** 31), ValueError,
     r"array 'k': the zip directory claims 2147483648 bytes from \d+ "
     r"compressed, more than any compression achieves"),
    ('stored sizes that disagree', lambda p: _patch_directory(
        _good(p), 24, 10), ValueError, r"stored uncompressed, yet"),
    ('a flipped data byte', lambda p: _flip_data_byte(_good(p)),
     ValueError, r"^keypoint file .*x.npz: array 'keypoints' cannot be read "
     r"\(Bad CRC-32"),
    ('no npy magic', lambda p: _zip(p, {'k.npy': b'hello world' * 10}),
     ValueError, r"array 'k' has no valid npy header \("),
    ('a member that is no array', lambda p: _zip(p, {'README': b'hi'}),
     ValueError, r"member 'README' is not an \.npy array"),
    ('objects', lambda p: np.savez(p, k=np.array([{'a': 1}])) or p,
     ValueError, r"array 'k' holds Python objects \(dtype object\), which "
     r"are refused"),
    ('truncated', lambda p: p.write_bytes(_good(p).read_bytes()[:300]) and p,
     ValueError, r"^keypoint file .*x.npz is not a readable \.npz file \(not "
     r"a zip archive: "),
    ('random bytes', lambda p: p.write_bytes(os.urandom(2048)) and p,
     ValueError, r"is not a readable \.npz file"),
    ('empty', lambda p: p.write_bytes(b'') or p, ValueError,
     r"is not a readable \.npz file"),
    ('a directory', lambda p: p.mkdir() or p, IsADirectoryError,
     r"^keypoint file .*x.npz is a directory, not a file$"),
    ('a FIFO', lambda p: os.mkfifo(p) or p, OSError,
     r"x.npz is not a regular file \(it is a pipe\)"),
    ('missing', lambda p: p, FileNotFoundError,
     r"^keypoint file .*x.npz does not exist$"),
]


@pytest.mark.parametrize('name, make, exc, match', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_npz(name, make, exc, match, tmp_path):
    path = make(tmp_path / 'x.npz')
    with pytest.raises(exc) as info:
        load_npz_checked(path)
    message = str(info.value)
    assert '\n' not in message
    assert re.search(match, message), message


def test_a_character_device_is_refused():
    with pytest.raises(OSError, match=r'^--data /dev/zero is not a regular '
                       r'file \(it is a character device\); give the path '
                       r'of a saved file$'):
        load_npz_checked('/dev/zero', what='--data')


def test_good_npz_loads_as_np_load_does(tmp_path):
    arrays = {'keypoints': np.arange(24, dtype=np.float32).reshape(2, 6, 2),
              'image_size': np.array([1000, 1002]),
              'names': np.array(['hip', 'knee']), 'empty': np.zeros((0, 3))}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f'{save.__name__}.npz'
        save(path, **arrays)
        loaded = load_npz_checked(path)
        assert sorted(loaded) == sorted(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == value.dtype


def test_objects_load_when_allowed(tmp_path):
    np.savez(tmp_path / 'o.npz', k=np.array([{'a': 1}]))
    assert load_npz_checked(tmp_path / 'o.npz',
                            allow_pickle=True)['k'][0] == {'a': 1}


def test_npy(tmp_path):
    good = tmp_path / 'good.npy'
    np.save(good, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(load_npy_checked(good),
                                  np.arange(6).reshape(2, 3))
    bad = tmp_path / 'bad.npy'
    bad.write_bytes(_npy(HUGE))
    with pytest.raises(ValueError, match=r"^array file .*bad.npy: the array "
                       r"declares shape \[1000000000, 1000000\] of float64 "
                       r"\(8000000000000000 bytes\) but holds only 16"):
        load_npy_checked(bad)
    with pytest.raises(ValueError, match=r'has no valid npy header'):
        load_npy_checked(_good(tmp_path / 'zip.npz'))

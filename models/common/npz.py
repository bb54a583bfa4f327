"""Reading ``.npz`` and ``.npy`` files that may be damaged or hostile.

``np.load`` trusts each array's npy header: a header that claims a
terabyte shape makes it allocate a terabyte (``_ArrayMemoryError``), one
that claims more than the member holds fails with ``EOF: reading array
data`` and no file named. Here every header is read first and checked
against the sizes the zip directory gives and the file has, so a damaged
file costs a few hundred bytes of reading and ends in one error naming
the file, the array and the declared and actual sizes. Arrays of Python
objects (which unpickling can turn into running code) are refused unless
asked for.
"""
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from numpy.lib import format as npy

from models.common.files import PathLike

__all__ = ['load_npy_checked', 'load_npz_checked']

#: deflate never compresses better than about 1032 to 1; an uncompressed
#: size beyond that (plus a little for tiny members) is a lying directory
MAX_DEFLATE_RATIO = 1032
_SLACK = 1 << 16

# what reading a damaged member may raise, besides our own checks (an
# encrypted member: RuntimeError)
_READ_ERRORS = (ValueError, EOFError, OSError, zlib.error,
                zipfile.BadZipFile, NotImplementedError, RuntimeError)


def load_npz_checked(path: PathLike, what: str = 'keypoint file',
                     allow_pickle: bool = False) -> Dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by name (without
    ``.npy``), after checking every member's header (see the module's
    note). ``what`` names the file in errors (``'keypoint file'``,
    ``'--data'``). Raises :class:`OSError` for a path that is no regular
    file and :class:`ValueError` for damaged contents."""
    path = Path(path)
    with _open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            archive = zipfile.ZipFile(f)
        except _READ_ERRORS as err:
            raise ValueError(f"{what} {path} is not a readable .npz file "
                             f"(not a zip archive: {err})") from None
        with archive:
            infos = archive.infolist()
            for info in infos:
                _check_member(archive, info, size, f"{what} {path}",
                              allow_pickle)
            return {_key(info): _read_member(archive, info, what, path,
                                             allow_pickle)
                    for info in infos}


def load_npy_checked(path: PathLike, what: str = 'array file',
                     allow_pickle: bool = False) -> np.ndarray:
    """The array in the ``.npy`` at ``path``, after checking its header
    against the file's size; errors as :func:`load_npz_checked`."""
    path = Path(path)
    with _open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        label = f"{what} {path}"
        shape, dtype, start = _read_header(f, label, 'the array')
        _check_sizes(label, 'the array', shape, dtype, size - start,
                     allow_pickle)
        f.seek(0)
        try:
            return npy.read_array(f, allow_pickle=allow_pickle)
        except _READ_ERRORS as err:
            raise ValueError(f"{label} cannot be read: {err}") from None


def _open_regular(path: Path, what: str):
    """``path`` open for reading, if it is a regular file. Checked before
    opening (opening a FIFO would wait for a writer) and again on the open
    file, in case the name changed hands in between."""
    try:
        seen = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    _require_regular(seen, path, what)
    f = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), 'rb')
    _require_regular(os.fstat(f.fileno()), path, what, f)
    return f


def _require_regular(seen: os.stat_result, path: Path, what: str,
                     opened=None) -> None:
    if stat.S_ISREG(seen.st_mode):
        return
    if opened is not None:
        opened.close()
    if stat.S_ISDIR(seen.st_mode):
        raise IsADirectoryError(f"{what} {path} is a directory, not a file")
    kind = ('a character device' if stat.S_ISCHR(seen.st_mode) else
            'a block device' if stat.S_ISBLK(seen.st_mode) else
            'a pipe' if stat.S_ISFIFO(seen.st_mode) else
            'a socket' if stat.S_ISSOCK(seen.st_mode) else 'not a file')
    raise OSError(f"{what} {path} is not a regular file (it is {kind}); "
                  f"give the path of a saved file")


def _key(info: zipfile.ZipInfo) -> str:
    name = info.filename
    return name[:-len('.npy')] if name.endswith('.npy') else name


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                  size: int, label: str, allow_pickle: bool) -> None:
    """The member's place in the file, its sizes and its npy header."""
    name = repr(_key(info))
    if not info.filename.endswith('.npy'):
        raise ValueError(f"{label}: member {info.filename!r} is not an "
                         f".npy array; an .npz holds only arrays")
    end = info.header_offset + info.compress_size
    if end > size:
        raise ValueError(
            f"{label}: array {name} is cut short: the zip directory puts "
            f"its {info.compress_size} bytes at offset {info.header_offset}, "
            f"past the end of the {size}-byte file (truncated or damaged)")
    _check_directory_sizes(info, label, name)
    with archive.open(info) as member:
        shape, dtype, start = _read_header(member, label, f"array {name}")
    _check_sizes(label, f"array {name}", shape, dtype,
                 info.file_size - start, allow_pickle)


def _check_directory_sizes(info: zipfile.ZipInfo, label: str,
                           name: str) -> None:
    stored = info.compress_type == zipfile.ZIP_STORED
    if stored and info.file_size != info.compress_size:
        raise ValueError(
            f"{label}: array {name} is stored uncompressed, yet the zip "
            f"directory gives {info.file_size} bytes uncompressed and "
            f"{info.compress_size} stored (the file is damaged)")
    if info.file_size > info.compress_size * MAX_DEFLATE_RATIO + _SLACK:
        raise ValueError(
            f"{label}: array {name}: the zip directory claims "
            f"{info.file_size} bytes from {info.compress_size} compressed, "
            f"more than any compression achieves (the file is damaged)")


def _read_header(f, label: str, name: str) -> Tuple[tuple, np.dtype, int]:
    """(shape, dtype, offset of the data) from the npy header at the
    start of ``f``."""
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version[0]}."
                             f"{version[1]} is not supported")
    except ValueError as err:  # numpy's word for a malformed header
        raise ValueError(f"{label}: {name} has no valid npy header "
                         f"({err})") from None
    except _READ_ERRORS as err:  # a small member is read whole: its CRC
        raise ValueError(f"{label}: {name} cannot be read ({err})") \
            from None
    return shape, dtype, f.tell()


def _check_sizes(label: str, name: str, shape: tuple, dtype: np.dtype,
                 available: int, allow_pickle: bool) -> None:
    if dtype.hasobject:
        if allow_pickle:
            return  # pickled: the header's shape says nothing of the size
        raise ValueError(
            f"{label}: {name} holds Python objects (dtype {dtype}), which "
            f"are refused: loading them can run code; save numeric or "
            f"string arrays instead")
    count = 1
    for extent in shape:
        count *= int(extent)  # Python ints: no overflow for huge shapes
    declared = count * dtype.itemsize
    if declared > available:
        raise ValueError(
            f"{label}: {name} declares shape {list(shape)} of {dtype} "
            f"({declared} bytes) but holds only {max(available, 0)} bytes "
            f"(the file is damaged or truncated)")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 what: str, path: Path, allow_pickle: bool) -> np.ndarray:
    try:
        with archive.open(info) as member:
            return npy.read_array(member, allow_pickle=allow_pickle)
    except _READ_ERRORS as err:
        raise ValueError(f"{what} {path}: array {_key(info)!r} cannot be "
                         f"read ({err})") from None

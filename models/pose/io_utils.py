"""Atomic file writes.

Everything the project writes (prepared data, checkpoints, metrics, logs,
pictures) goes through :func:`atomic_write`: the bytes land in a temporary
file in the target's directory, are flushed to disk, and only then replace
the target. A crash, a kill or a full disk leaves either the old file or the
new one, never a truncated mix.
"""
import glob
import io
import os
import tempfile
from pathlib import Path
from typing import List, Union

import numpy as np

PathLike = Union[str, os.PathLike]


# temporary files are named .<target name>.<random>.tmp, beside the target
_TEMP_PREFIX = '.{}.'
_TEMP_SUFFIX = '.tmp'


def atomic_write(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path('.')
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"cannot write {path}: directory {directory} "
                              f"is not writable")
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX.format(path.name),
                               suffix=_TEMP_SUFFIX, dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for secrets
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def remove_stale_temporaries(path: PathLike) -> List[Path]:
    """Delete the temporary files that writes of ``path`` killed before
    their rename left behind (``path`` itself is always complete); returns
    what was removed. Only for a file no other process is writing now."""
    path = Path(path)
    removed = []
    for stale in sorted(path.parent.glob(
            glob.escape(_TEMP_PREFIX.format(path.name)) + '*' + _TEMP_SUFFIX)):
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed

def write_text_atomic(path: PathLike, text: str) -> Path:
    return atomic_write(path, text.encode('utf-8'))


def save_npz_atomic(path: PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` through :func:`atomic_write`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())

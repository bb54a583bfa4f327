"""Atomic file writes.

Everything the project writes (prepared data, checkpoints, metrics, logs,
pictures) goes through :func:`atomic_write`: the bytes land in a temporary
file in the target's directory, are flushed to disk, and only then replace
the target. A crash, a kill or a full disk leaves either the old file or the
new one, never a truncated mix.
"""
import errno
import fcntl
import glob
import io
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from models.common.faults import fault_point

PathLike = Union[str, os.PathLike]


# temporary files are named .<target name>.<random>.tmp, beside the target
_TEMP_PREFIX = '.{}.'
_TEMP_SUFFIX = '.tmp'


def os_error_message(err: OSError) -> str:
    """One line for an OS error: the path (when known) and the cause."""
    if err.errno is None or err.strerror is None:  # raised with a message
        return str(err)
    cause = err.strerror
    if err.errno == errno.ENOSPC:
        cause = 'no space left on device (errno 28, disk full)'
    return f"{err.filename}: {cause}" if err.filename else cause


def directory_problem(path: Path) -> Union[str, None]:
    """Why ``path`` cannot be (or become) a directory, or ``None``."""
    if path.exists() and not path.is_dir():
        return f"{path} is an existing file, not a directory"
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, so {path} cannot be created under it"
    return None


def _make_directory(directory: Path, prefix: str, failed: str) -> None:
    """``mkdir -p directory``, or one error starting with ``prefix``: the
    problem in the way, or ``failed`` and the OS's reason."""
    problem = directory_problem(directory)
    if problem:
        raise NotADirectoryError(f"{prefix}: {problem}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"{prefix}: {failed}: "
                        f"{os_error_message(err)}") from None


def ensure_directory(path: PathLike, what: str = 'directory') -> Path:
    """Create ``path`` (and parents) or raise one clear error naming the
    option ``what`` and the reason (a file in the way, no permission, a
    full disk)."""
    path = Path(path)
    _make_directory(path, f"{what} {path}", 'cannot create the directory')
    return path


def atomic_write(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    Any OS failure (a file where a directory should be, no permission, a
    full disk) raises an :class:`OSError` whose message names ``path`` and
    the cause; the previous file at ``path``, if any, is left as it was.
    """
    path = Path(path)
    directory = path.parent  # Path('x').parent is Path('.')
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    _make_directory(directory, f"cannot write {path}",
                    'cannot create its directory')
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"cannot write {path}: directory {directory} "
                              f"is not writable")
    try:
        _write_replace(path, directory, data)
    except OSError as err:
        if err.errno is None:
            raise
        kept = ' (the previous file is intact)' if path.exists() else ''
        raise type(err)(f"cannot write {path}: {os_error_message(err)}"
                        f"{kept}") from None
    return path


def _write_replace(path: Path, directory: Path, data: bytes) -> None:
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
        fault_point('atomic-write')  # tests only: a kill before the rename
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


class RunDirectoryBusy(OSError):
    """Another live process holds the lock of a run directory."""


# locks this process holds: resolved directory -> (fd, holders); re-entrant
# within the process (``run`` holds it around ``train`` and the final
# evaluation, ``train`` takes it again), exclusive between processes
_HELD: Dict[str, Tuple[int, int]] = {}
LOCK_NAME = '.lock'


class RunDirectoryLock:
    """An exclusive ``fcntl.flock`` on ``<directory>/.lock`` for the life of
    a run: a second process asking for it fails at once with
    :class:`RunDirectoryBusy`. The kernel releases the lock when the
    process dies, however it dies, so a killed run never blocks its resume.
    The lock file stays behind (deleting it would race with a new holder).
    """

    def __init__(self, directory: PathLike, what: str = '--out'):
        self.directory = Path(directory)
        self.what = what
        self._key = None

    def __enter__(self) -> 'RunDirectoryLock':
        ensure_directory(self.directory, self.what)
        key = str(self.directory.resolve())
        if key in _HELD:
            fd, count = _HELD[key]
            _HELD[key] = (fd, count + 1)
            self._key = key
            return self
        lock_path = self.directory / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise type(err)(f"{self.what} {self.directory}: cannot create "
                            f"the lock file: {os_error_message(err)}") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            try:
                holder = os.read(fd, 64).decode(errors='replace').strip()
            except OSError:
                holder = ''
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise type(err)(f"{self.what} {self.directory}: cannot lock "
                                f"{lock_path}: {os_error_message(err)}") \
                    from None
            raise RunDirectoryBusy(
                f"{self.what} {self.directory} is in use by another run "
                f"(process {holder or '?'} holds {lock_path}); wait for it "
                f"to end or choose another {self.what}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f'{os.getpid()}\n'.encode())
        _HELD[key] = (fd, 1)
        self._key = key
        return self

    def __exit__(self, *exc) -> None:
        fd, count = _HELD[self._key]
        if count > 1:
            _HELD[self._key] = (fd, count - 1)
        else:
            del _HELD[self._key]
            os.close(fd)  # releases the flock
        self._key = None


def write_text_atomic(path: PathLike, text: str) -> Path:
    """``text`` as UTF-8 through :func:`atomic_write`; returns the path."""
    if not isinstance(text, str):
        raise TypeError(f"cannot write {path}: expected text (str), got "
                        f"{type(text).__name__}")
    return atomic_write(path, text.encode('utf-8'))


def save_figure_atomic(fig, path: PathLike, **savefig_kwargs) -> Path:
    """A matplotlib figure rendered in memory (in the format of the file
    name's suffix) and written through :func:`atomic_write`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lower().lstrip('.'),
                **savefig_kwargs)
    return atomic_write(path, buffer.getvalue())


def save_npz_atomic(path: PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` through :func:`atomic_write`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())

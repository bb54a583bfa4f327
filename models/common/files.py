"""Atomic file writes.

Everything the project writes (prepared data, checkpoints, metrics, logs,
pictures) goes through :func:`atomic_write`: the bytes land in a temporary
file in the target's directory, are flushed to disk, and only then replace
the target. A crash, a kill or a full disk leaves either the old file or the
new one, never a truncated mix.

Symbolic links: :func:`atomic_write` refuses a target that is a symbolic
link. ``os.replace`` would not follow it (the link itself would become a
regular file), but a link at an output path was put there by someone
else, and silently turning ``last.pt -> /data/last.pt`` into a local file
is as surprising as writing through it. Links among the directories above
the target are followed: they are how users put runs on another disk.
:func:`models.common.outputs.check_output` checks the components inside a
run directory, where a link would redirect the run's own files.
"""
import errno
import fcntl
import glob
import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

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


class OutputRefused(OSError):
    """An output path the project will not write: a symbolic link, one of
    the command's inputs, a file of another process's run directory. The
    message is the whole story (no errno), so ``os_error_message`` prints
    it as it is."""


def atomic_write(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    Any OS failure (a file where a directory should be, no permission, a
    full disk) raises an :class:`OSError` whose message names ``path`` and
    the cause; the previous file at ``path``, if any, is left as it was.
    A target that is a symbolic link raises :class:`OutputRefused` and is
    left alone (see the module's note). Temporaries that killed writes of
    the same target left behind are deleted first; a live writer's never
    are, since every writer holds an ``flock`` on its temporary until the
    rename (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    directory = path.parent  # Path('x').parent is Path('.')
    if path.is_symlink():
        raise OutputRefused(
            f"cannot write {path}: it is a symbolic link (to "
            f"{os.readlink(path)}); refusing to replace it: remove the link "
            f"or write to the file it points to")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    _make_directory(directory, f"cannot write {path}",
                    'cannot create its directory')
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"cannot write {path}: directory {directory} "
                              f"is not writable")
    try:
        remove_stale_temporaries(path)
        _write_replace(path, directory, data)
    except OSError as err:
        if err.errno is None:
            raise
        kept = ' (the previous file is intact)' if path.exists() else ''
        raise type(err)(f"cannot write {path}: {os_error_message(err)}"
                        f"{kept}") from None
    return path


def _locked_temporary(path: Path, directory: Path) -> Tuple[int, str]:
    """A new temporary for ``path``, open and ``flock``-ed. A cleaner may
    delete the file between its creation and the lock (it is not locked
    yet, so it looks stale); then the name no longer names our file, and
    we start again with a new one."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX.format(path.name),
                                   suffix=_TEMP_SUFFIX, dir=directory)
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours alone: never blocks long
        if _names_file(tmp, fd):
            return fd, tmp
        os.close(fd)


def _names_file(name: str, fd: int) -> bool:
    """Whether the directory entry ``name`` is still the open file ``fd``
    (not deleted, not replaced)."""
    try:
        seen = os.lstat(name)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (seen.st_dev, seen.st_ino) == (mine.st_dev, mine.st_ino)


def _write_replace(path: Path, directory: Path, data: bytes) -> None:
    fd, tmp = _locked_temporary(path, directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for secrets
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            fault_point('atomic-write')  # tests only: a kill right here
            # renamed while still locked: once the lock goes, the name is
            # gone too, so no cleaner ever sees an unlocked live temporary
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
    what was removed. A temporary whose writer is alive is skipped: the
    writer holds an ``flock`` on it, and the kernel drops that lock when
    the writer dies, however it dies."""
    path = Path(path)
    removed = []
    for stale in sorted(path.parent.glob(
            glob.escape(_TEMP_PREFIX.format(path.name)) + '*' + _TEMP_SUFFIX)):
        if _remove_if_unlocked(stale):
            removed.append(stale)
    return removed


def _remove_if_unlocked(stale: Path) -> bool:
    try:
        fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone meanwhile, a link, unreadable: not ours to touch
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a live writer holds it
        os.close(fd)
        return False
    try:  # locked by us now: no writer can be using it
        if not _names_file(str(stale), fd):
            return False
        stale.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


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
            # O_NOFOLLOW: a .lock linked elsewhere would have us truncate
            # and overwrite whatever it points to
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                         0o666)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise OutputRefused(
                    f"{self.what} {self.directory}: {lock_path} is a "
                    f"symbolic link; refusing to follow it: remove it") \
                    from None
            raise type(err)(f"{self.what} {self.directory}: cannot create "
                            f"the lock file: {os_error_message(err)}") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _read_holder(fd)
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


def _read_holder(fd: int) -> str:
    """The PID a holder wrote into its lock file ('' if unreadable)."""
    try:
        return os.pread(fd, 64, 0).decode(errors='replace').strip()
    except OSError:
        return ''


def run_directory_holder(directory: PathLike) -> Union[str, None]:
    """The PID (as the lock file says it, ``'?'`` if it says nothing) of
    another process holding :class:`RunDirectoryLock` on ``directory``, or
    ``None`` if no other process holds it (this process's own lock does
    not count).

    The test is a non-blocking shared ``flock``: it fails while a holder
    has its exclusive lock and leaves that lock alone. When nobody holds
    it, the shared lock lives for the microseconds of this call; a run
    starting in exactly that window is told the directory is busy and can
    simply start again.
    """
    directory = Path(directory)
    if str(directory.resolve()) in _HELD:
        return None
    try:
        fd = os.open(directory / LOCK_NAME,
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # no lock file (or not one we would open): not held
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return _read_holder(fd) or '?'
        return None
    finally:
        os.close(fd)  # also drops our shared lock, if we got it
    return None


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


# -- inputs ---------------------------------------------------------------

def _kind(mode: int) -> Optional[str]:
    """What a non-regular file is, in words (``None`` for a regular one)."""
    for test, name in ((stat.S_ISDIR, 'a directory'),
                       (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISFIFO, 'a named pipe (FIFO)'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else 'not a regular file'


def check_input_file(path: PathLike, what: str, expected: str) -> Path:
    """``path`` if it names a regular file, else one error naming ``what``
    (the argument), what is there and ``expected``: a device or a pipe
    would be read forever (``/dev/zero``) or block (a FIFO), and reports
    of "does not exist" for them mislead."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist; expected "
                                f"{expected}") from None
    kind = _kind(mode)
    if kind is not None:
        raise ValueError(f"{what} {path} is {kind}, not a regular file; "
                         f"expected {expected}")
    return path


def refuse_special_file(path: PathLike, what: str, expected: str) -> None:
    """Refuse a path naming a device, a pipe or a socket; a missing path or
    a directory is left to the loader, whose messages say more for them
    (e.g. "did you mean .../best.pt?")."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        check_input_file(path, what, expected)

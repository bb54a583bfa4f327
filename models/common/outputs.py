"""Output-path rules, checked before a command writes anything.

An output path

* is never one of the command's inputs: not the same resolved path, and
  not the same file under another name (a hard link: same ``st_dev`` and
  ``st_ino``);
* is never inside a run directory that another process holds locked
  (:class:`models.common.files.RunDirectoryLock`);
* ends in the suffix of what is written;
* is not a symbolic link, and inside a run directory is not reached
  through one (links above the run directory are the user's choice and
  are followed);
* has a parent that is, or can become, a writable directory.

:func:`check_outputs` checks all of a command's outputs before the first
byte is written, so a refused command leaves every existing file as it
was. Each refusal is one line naming the option, what was seen, what was
expected and how to fix it.
"""
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

from models.common.files import (
    LOCK_NAME,
    OutputRefused,
    PathLike,
    directory_problem,
    run_directory_holder,
)

__all__ = ['OutputRefused', 'check_output', 'check_output_directory',
           'check_outputs']

Inputs = Optional[Mapping[str, Optional[PathLike]]]


def check_output(path: PathLike, *, argument: str = '--out',
                 suffixes: Sequence[str] = (), inputs: Inputs = None,
                 allow_existing: bool = True, create_parents: bool = True,
                 run_directory: Optional[PathLike] = None) -> Path:
    """Refuse ``path`` as the output file of option ``argument`` unless it
    keeps every rule of this module; returns it as a :class:`Path`.

    ``suffixes``: the accepted endings (any case), none for any.
    ``inputs``: option -> path of what the command reads (``None`` values
    are skipped). ``allow_existing=False`` refuses a file already there.
    ``create_parents=False`` requires the parent directory to exist.
    ``run_directory``: the run directory ``path`` lies in, whose own
    components must not be symbolic links.
    """
    path = Path(path)
    _check_kind(path, argument, suffixes)
    _check_parent(path, argument, create_parents)
    if run_directory is not None:
        _check_no_links_inside(path, argument, Path(run_directory))
    _check_not_an_input(path, argument, inputs)
    if not allow_existing and path.exists():
        raise FileExistsError(f"{argument} {path} already exists; refusing "
                              f"to overwrite it: remove it or give another "
                              f"{argument}")
    _check_not_locked(path.parent, path, argument)
    return path


def check_outputs(outputs: Mapping[str, Tuple[Optional[PathLike],
                                              Sequence[str]]],
                  *, inputs: Inputs = None, allow_existing: bool = True,
                  create_parents: bool = True,
                  run_directory: Optional[PathLike] = None
                  ) -> Dict[str, Path]:
    """:func:`check_output` for each ``option -> (path, suffixes)`` (a
    ``None`` path is an output not asked for, and skipped), and no two
    outputs the same file; returns ``option -> Path``. Call it before
    writing anything."""
    checked: Dict[str, Path] = {}
    for argument, (path, suffixes) in outputs.items():
        if path is None:
            continue
        checked[argument] = check_output(
            path, argument=argument, suffixes=suffixes, inputs=inputs,
            allow_existing=allow_existing, create_parents=create_parents,
            run_directory=run_directory)
    seen: Dict[Path, str] = {}
    for argument, path in checked.items():
        key = path.resolve()
        if key in seen:
            other = seen[key]
            raise ValueError(f"{argument} {path} is the same file as {other} "
                             f"{checked[other]}; give them different names")
        seen[key] = argument
    return checked


def check_output_directory(path: PathLike, *, argument: str = '--out',
                           inputs: Inputs = None) -> Path:
    """Refuse ``path`` as an output directory if it is a file, lies under
    a file, cannot be created, is one of ``inputs`` or is a run directory
    another process holds; returns it as a :class:`Path`."""
    path = Path(path)
    problem = directory_problem(path)
    if problem:
        raise NotADirectoryError(f"{argument} {path}: {problem}")
    _check_writable(path, argument)
    _check_not_an_input(path, argument, inputs)
    _check_not_locked(path, path, argument)
    return path


def _check_kind(path: Path, argument: str, suffixes: Sequence[str]) -> None:
    if path.is_symlink():
        raise OutputRefused(
            f"{argument} {path} is a symbolic link (to {os.readlink(path)}); "
            f"refusing to write through or over it: remove the link or give "
            f"the real path")
    ending = ' or '.join(suffixes)
    if path.is_dir():
        wanted = f' ending in {ending}' if suffixes else ''
        raise IsADirectoryError(f"{argument} {path} is a directory; give a "
                                f"file name{wanted}")
    if path.exists() and not path.is_file():
        raise OutputRefused(f"{argument} {path} is not a regular file (a "
                            f"device, pipe or socket); give a file name")
    if suffixes and path.suffix.lower() not in [s.lower() for s in suffixes]:
        raise ValueError(f"{argument} {path}: the file name must end in "
                         f"{ending}; give a name such as "
                         f"{path.with_suffix(suffixes[0]).name}")


def _check_parent(path: Path, argument: str, create_parents: bool) -> None:
    parent = path.parent
    problem = directory_problem(parent)
    if problem:
        raise NotADirectoryError(f"{argument} {path}: {problem}")
    if not create_parents and not parent.is_dir():
        raise FileNotFoundError(f"{argument} {path}: directory {parent} does "
                                f"not exist; create it first or give another "
                                f"{argument}")
    _check_writable(parent, argument, path)


def _check_writable(directory: Path, argument: str,
                    shown: Optional[Path] = None) -> None:
    """The nearest existing directory at or above ``directory`` must be
    writable: that is where the first new entry goes."""
    existing = next((d for d in (directory, *directory.parents)
                     if d.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{argument} {shown or directory}: directory "
                              f"{existing} is not writable; choose a "
                              f"directory you can write to")


def _check_no_links_inside(path: Path, argument: str,
                           run_directory: Path) -> None:
    try:
        inside = path.relative_to(run_directory)
    except ValueError:
        raise ValueError(f"{argument} {path} is not inside the run "
                         f"directory {run_directory}") from None
    component = run_directory
    for part in inside.parts[:-1]:
        component = component / part
        if component.is_symlink():
            raise OutputRefused(
                f"{argument} {path}: {component} inside the run directory "
                f"{run_directory} is a symbolic link (to "
                f"{os.readlink(component)}); refusing to follow it: remove "
                f"it")


def _check_not_an_input(path: Path, argument: str, inputs: Inputs) -> None:
    for name, source in (inputs or {}).items():
        if source is not None and _same_file(path, Path(source)):
            raise OutputRefused(
                f"{argument} {path} is the same file as {name} {source}; "
                f"writing it would destroy the input: give another "
                f"{argument}")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _check_not_locked(start: Path, path: Path, argument: str) -> None:
    """No directory at or above ``start`` may be a run directory that
    another process holds."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if not (directory / LOCK_NAME).exists():
            continue
        holder = run_directory_holder(directory)
        if holder is not None:
            raise OutputRefused(
                f"{argument} {path} is inside {directory}, a run directory "
                f"in use by another run (process {holder} holds "
                f"{directory / LOCK_NAME}); wait for it to end or choose "
                f"another {argument}")

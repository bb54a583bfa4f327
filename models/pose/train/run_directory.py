"""What a training run writes in its directory: the claim on that directory
(refuse, resume or replace the run in it), the clean-up after killed writes,
and the main process's report (console, ``log.csv``, TensorBoard)."""
import csv
import io
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List

from models.common.files import (
    LOCK_NAME,
    OutputRefused,
    atomic_write,
    remove_stale_temporaries,
)

#: what a run writes in its directory (``--overwrite`` removes these)
RUN_OUTPUTS = ('last.pt', 'best.pt', 'log.csv', 'metrics.json', 'metrics.md',
               'pose_typical.png', 'pose_worst.png', 'error_per_joint.png',
               'training_curves.png')

#: the files a run rewrites atomically while it trains
_REWRITTEN = ('last.pt', 'best.pt', 'log.csv')

#: directories a run writes into
RUN_DIRECTORIES = ('tensorboard', )


def claim_run_directory(out_dir: Path, resume: bool,
                        overwrite: bool) -> None:
    """Refuse to start a new run over an existing one (called with the
    directory's lock held, so no other run is writing in it)."""
    present = sorted(p.name for p in out_dir.iterdir()
                     if p.name != LOCK_NAME)
    if not present:
        return
    # before anything is removed or written: a refusal must leave the old
    # run as it was (--overwrite once deleted it, then failed on the link)
    refuse_linked_outputs(out_dir)
    shown = ', '.join(present[:6]) + (' ...' if len(present) > 6 else '')
    if resume:
        if (out_dir / 'last.pt').exists():
            return
        done = [n for n in ('best.pt', 'log.csv') if n in present]
        if done:
            raise ValueError(
                f"--resume: --out {out_dir} holds {', '.join(done)} but no "
                f"last.pt to resume from; give --overwrite to replace that "
                f"run, or choose another --out")
        return
    if overwrite:
        _remove_run(out_dir)
        return
    raise ValueError(
        f"--out {out_dir} is not empty (it holds {shown}); refusing to "
        f"overwrite it: give --resume to continue the run in it, "
        f"--overwrite to replace it, or choose another --out")


def refuse_linked_outputs(out_dir: Path) -> None:
    """Refuse a run directory in which a file or directory the run writes
    is a symbolic link: writing would follow it out of the directory (the
    links above the directory are the user's and are followed)."""
    for name in RUN_OUTPUTS + RUN_DIRECTORIES:
        path = out_dir / name
        if path.is_symlink():
            raise OutputRefused(
                f"--out {out_dir}: {name} in it is a symbolic link (to "
                f"{path.readlink()}); refusing to write through it: remove "
                f"the link, or choose another --out")


def _remove_run(out_dir: Path) -> None:
    """``--overwrite``: delete the run's outputs, saying which."""
    removed = [n for n in RUN_OUTPUTS if (out_dir / n).is_file()]
    for name in removed:
        (out_dir / name).unlink()
    if (out_dir / 'tensorboard').is_dir():
        shutil.rmtree(out_dir / 'tensorboard')
        removed.append('tensorboard/')
    for name in _REWRITTEN:
        removed += [p.name for p in remove_stale_temporaries(out_dir / name)]
    if removed:
        print(f'--overwrite: removed {", ".join(removed)} from {out_dir}',
              flush=True)


def remove_interrupted_writes(out_dir: Path) -> None:
    """Delete what writes of this run's files left when a run was killed
    before their rename (the files themselves are always complete)."""
    for name in _REWRITTEN:
        for stale in remove_stale_temporaries(out_dir / name):
            print(f'removed {stale.name}, left by an interrupted write of '
                  f'{name}', flush=True)


class RunLog:
    """The run's report, written by the main process only: console lines,
    ``log.csv`` (every epoch's row) and TensorBoard scalars. Under DDP the
    other processes hold one with ``enabled=False`` that does nothing, so
    the training loop needs no rank test of its own to report.

    Both logs are copies of the history in ``last.pt``, the run's truth:
    :meth:`start` rewrites them from it, so a run killed after a
    checkpoint and before its log row (or before TensorBoard flushed)
    loses nothing once resumed, and :meth:`epoch` rewrites ``log.csv``
    whole, atomically, after every epoch."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self._writer = None

    def say(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)

    def warn(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def start(self, history: List[Dict[str, Any]]) -> None:
        """Open TensorBoard and write both logs from ``history`` (the
        resumed checkpoint's; empty for a new run)."""
        if not self.enabled:
            return
        self._open_tensorboard()
        self._write_csv(history)
        for row in history:
            self._scalars(row)

    def epoch(self, history: List[Dict[str, Any]]) -> None:
        """Rewrite ``log.csv`` with ``history`` and send its last row's
        values to TensorBoard."""
        if not self.enabled or not history:
            return
        self._write_csv(history)
        self._scalars(history[-1])

    def _open_tensorboard(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.warn('tensorboard is not installed: no TensorBoard scalars '
                      '(pip install -e ".[pose]")')
            return
        # event files are only ever appended to: every run has TensorBoard
        # hide the scalars earlier runs in this directory logged (purge_step
        # 1; a killed one may have flushed rows its checkpoint lacks) and
        # sends the checkpoint's history again
        self._writer = SummaryWriter(str(self.out_dir / 'tensorboard'),
                                     purge_step=1)

    def _write_csv(self, history: List[Dict[str, Any]]) -> None:
        if not history:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        data, path = buf.getvalue().encode(), self.out_dir / 'log.csv'
        try:
            if path.read_bytes() == data:  # a resume with a complete log
                return
        except OSError:  # none yet, or unreadable: written anew
            pass
        atomic_write(path, data)

    def _scalars(self, row: Dict[str, Any]) -> None:
        if self._writer is not None:
            for key, value in row.items():
                if key != 'epoch':
                    self._writer.add_scalar(key, value, row['epoch'])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

"""What a training checkpoint holds beside the model and the optimizer:
:class:`TrainState`, the run's position, history and running statistics,
written by :meth:`TrainState.to_checkpoint` and checked and read back by
:meth:`TrainState.from_checkpoint`.

The keys on disk are those of every checkpoint since digests exist
(:data:`RESUME_KEYS` plus ``train_config``, ``epoch_stats``, ``data`` and
``data_fingerprint``); the file itself (digest, ``weights_only`` loading,
model config and weights) is :mod:`models.pose.nn.checkpoint`'s. The
history in ``last.pt`` is the run's truth: ``log.csv`` and the TensorBoard
scalars are rewritten from it.
"""
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from models.pose.nn.checkpoint import CheckpointError

#: keys of a checkpoint that ``--resume`` needs, with their types
RESUME_KEYS = {'optimizer': dict, 'scheduler': dict,
               'rng_cpu': torch.Tensor, 'epoch': int, 'step_in_epoch': int,
               'best_mpjpe': (int, float), 'history': list,
               'step_losses': torch.Tensor}

#: the running statistics of the epoch under way that a mid-epoch
#: checkpoint saves under ``epoch_stats`` (one at an epoch's end saves {})
STAT_KEYS = ('loss_count', 'samples', 'train_s', 'bad_steps')
# (in this order everywhere: the losses of the epoch among the last
# step_losses, samples seen, seconds trained, consecutive skipped steps)


@dataclass
class EpochStats:
    """Running statistics of the epoch under way. A mid-epoch checkpoint
    saves them, so a resumed epoch logs the mean over all its steps."""
    losses: List[float] = field(default_factory=list)
    samples: int = 0
    train_s: float = 0.0  # training seconds before `started`
    #: time.perf_counter() at the epoch's (re)start; None once stopped
    started: Optional[float] = None

    def seconds(self) -> float:
        """Training seconds so far, earlier runs' included."""
        if self.started is None:
            return self.train_s
        return self.train_s + time.perf_counter() - self.started

    def stop(self) -> None:
        """The epoch's steps are done: its clock stops."""
        self.train_s, self.started = self.seconds(), None


@dataclass
class TrainState:
    """Where a run stands, beside its model and optimizer: its identity
    (settings, data), position, validation history, every step's loss and
    the running statistics of the epoch under way."""
    train_config: Dict[str, Any]
    data: str
    data_fingerprint: Optional[str]
    #: frames per second of the training data: what ``infer`` resamples a
    #: video to (``None`` in checkpoints written before it was recorded)
    data_fps: Optional[float] = None
    epoch: int = 0  # the epoch under way, or to run next
    step: int = 0  # step positions of it done (skipped steps included)
    best_mpjpe: float = math.inf
    history: List[Dict[str, Any]] = field(default_factory=list)
    step_losses: List[float] = field(default_factory=list)
    bad_steps: int = 0  # consecutive skipped steps, across epochs
    running: Optional[EpochStats] = None  # of the epoch under way
    #: epoch and step of the ``last.pt`` on disk, if this run wrote or
    #: resumed one
    last_saved: Dict[str, int] = field(default_factory=dict)
    #: the CPU RNG state a checkpoint saved, until :meth:`restore_rng`
    rng_cpu: Optional[torch.Tensor] = field(default=None, repr=False,
                                            compare=False)

    # -- the epoch under way ------------------------------------------------

    def start_epoch(self) -> EpochStats:
        """The epoch's running statistics, continued if a checkpoint left
        it part-way, and its clock started."""
        if not (self.step and self.running):
            self.running = EpochStats()
        self.running.started = time.perf_counter()
        return self.running

    def record_step(self, loss: float, samples: int) -> None:
        self.bad_steps = 0
        self.running.losses.append(loss)
        self.running.samples += samples
        self.step_losses.append(loss)

    def end_epoch(self, row: Optional[Dict[str, Any]] = None) -> None:
        """The position moves to the next epoch; ``row``, the finished
        epoch's log row (the main process's), joins the history."""
        if row is not None:
            self.history.append(row)
        self.epoch, self.step, self.running = self.epoch + 1, 0, None

    # -- checkpoints --------------------------------------------------------

    def to_checkpoint(self) -> Dict[str, Any]:
        """The checkpoint's keys beside model and optimizer, at the current
        position (the CPU RNG state as it is now)."""
        stats = {}
        if self.step and self.running:  # mid-epoch: what its log row needs
            stats = dict(zip(STAT_KEYS, (
                len(self.running.losses), self.running.samples,
                self.running.seconds(), self.bad_steps)))
        return {'train_config': self.train_config,
                'rng_cpu': torch.get_rng_state(), 'epoch': self.epoch,
                'step_in_epoch': self.step, 'best_mpjpe': self.best_mpjpe,
                'history': self.history, 'epoch_stats': stats,
                'data_fingerprint': self.data_fingerprint,
                'data': self.data, 'data_fps': self.data_fps,
                'step_losses': torch.tensor(self.step_losses,
                                            dtype=torch.float64)}

    def saved_as_last(self) -> None:
        """Note that ``last.pt`` on disk now holds this position."""
        self.last_saved.update(epoch=self.epoch, step=self.step)

    @classmethod
    def from_checkpoint(cls, state: Dict[str, Any],
                        path: Path) -> 'TrainState':
        """The state a checkpoint saved, every key checked first (refused
        naming the key, never half-used). Its identity is the saved run's:
        see :meth:`check_data` and :meth:`continue_as`."""
        _check_keys(state, path)
        stats = _checked_stats(state, path)
        losses = state['step_losses'].tolist()
        saved_config = state.get('train_config')
        run = cls(train_config=dict(saved_config)
                  if isinstance(saved_config, dict) else {},
                  data=str(state.get('data', '?')),
                  data_fingerprint=state.get('data_fingerprint'),
                  data_fps=state.get('data_fps'),
                  epoch=state['epoch'], step=state['step_in_epoch'],
                  best_mpjpe=state['best_mpjpe'],
                  history=list(state['history']), step_losses=losses,
                  rng_cpu=state['rng_cpu'])
        run.saved_as_last()
        if run.step:
            # the epoch's running statistics, so that its logged mean loss
            # covers all its steps, not only those after the restart;
            # checkpoints without them: the last `step` losses (exact unless
            # a non-finite step was skipped in this epoch)
            saved = {**dict(zip(STAT_KEYS, (min(run.step, len(losses)),
                                            0, 0.0, 0))), **stats}
            count, samples, train_s, bad = (saved[k] for k in STAT_KEYS)
            run.running = EpochStats(losses=losses[len(losses) - int(count):],
                                     samples=int(samples),
                                     train_s=float(train_s))
            run.bad_steps = int(bad)
        return run

    def check_data(self, data_path: Path, fingerprint: str,
                   path: Path) -> None:
        """Refuse to continue this saved run on other data than it was
        trained on (a checkpoint that does not say: a warning)."""
        saved = self.data_fingerprint
        if saved is None:
            print(f'warning: {path} does not record which data it was '
                  f'trained on (written before checkpoints did): cannot '
                  f'check that --data {data_path} is the same',
                  file=sys.stderr, flush=True)
        elif saved != fingerprint:
            raise CheckpointError(
                f"--resume: {path} was trained on other data ({self.data}, "
                f"sha256 {str(saved)[:12]}...) than --data {data_path} "
                f"(sha256 {fingerprint[:12]}...); resume with the same "
                f"--data, or start a new run in another --out")

    def continue_as(self, train_config: Dict[str, Any], data: str,
                    data_fingerprint: str,
                    data_fps: Optional[float] = None) -> Dict[str, Any]:
        """Take the resuming run's identity; returns the settings that
        changed, as ``{name: saved value}``."""
        changed = {k: v for k, v in self.train_config.items()
                   if train_config.get(k) != v}
        self.train_config, self.data = train_config, data
        self.data_fingerprint, self.data_fps = data_fingerprint, data_fps
        return changed

    def restore_rng(self, path: Path) -> None:
        """Set the CPU RNG to the state the checkpoint saved."""
        try:
            torch.set_rng_state(self.rng_cpu)
        except (RuntimeError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {path}: key 'rng_cpu' is not a CPU RNG "
                f"state ({err})") from None
        self.rng_cpu = None

    def last_good(self, path: Path) -> str:
        """What is on disk at ``path`` (``last.pt``) now, said truthfully:
        only finite states are ever saved, and a non-finite ``last.pt`` is
        refused when resumed."""
        saved = self.last_saved
        if saved:
            where = (f"epoch {saved['epoch'] + 1}, step {saved['step']}"
                     if saved['step'] else f"end of epoch {saved['epoch']}")
            return (f'The last good checkpoint, {path} ({where}), was not '
                    f'touched.')
        return f'No checkpoint was written to {path} by this run.'


def _check_keys(state: Dict[str, Any], path: Path) -> None:
    """Every key ``--resume`` reads, with its type."""
    for key, kind in RESUME_KEYS.items():
        if key not in state:
            raise CheckpointError(f"checkpoint {path} cannot be resumed: it "
                                  f"lacks the key {key!r}")
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else \
                ' or '.join(k.__name__ for k in kind)
            raise CheckpointError(
                f"checkpoint {path} cannot be resumed: key {key!r} is a "
                f"{type(value).__name__}, expected {names}")
    for key in ('epoch', 'step_in_epoch'):
        if state[key] < 0:
            raise CheckpointError(f"checkpoint {path} cannot be resumed: key "
                                  f"{key!r} is {state[key]}, expected >= 0")


def _checked_stats(state: Dict[str, Any], path: Path) -> Dict[str, Any]:
    """``epoch_stats``: a dict of non-negative numbers under
    :data:`STAT_KEYS` (any may be missing) counting no more losses than the
    checkpoint holds."""
    stats = state.get('epoch_stats', {})
    if not isinstance(stats, dict) or any(
            isinstance(stats.get(k, 0), bool) or
            not isinstance(stats.get(k, 0), (int, float)) or
            stats.get(k, 0) < 0 for k in STAT_KEYS) or \
            stats.get(STAT_KEYS[0], 0) > len(state['step_losses']):
        raise CheckpointError(f"checkpoint {path} cannot be resumed: key "
                              f"'epoch_stats' is malformed: {stats!r}")
    return stats

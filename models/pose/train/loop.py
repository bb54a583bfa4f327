"""Training: ``python -m models.pose train`` (one process) or
``torchrun --nproc_per_node N -m models.pose train`` (DDP, same flags).

Schedule and loss follow the paper: loss eq. (11) with lambda = 0.01,
AMSGrad at lr 1e-3, decayed x0.95 after every epoch and x0.5 after every 5
epochs, 50 epochs, batch 256. The paper's epochs are Human3.6M's, thousands
of steps long; so that the same schedule suits small data sets, a schedule
epoch lasts one epoch or ``lr_epoch_min_steps`` optimizer steps, whichever
is longer (on Human3.6M that is exactly the paper's schedule).

``best.pt`` is chosen on a validation split (the last ``val_fraction`` of
every training sequence), never on the test subjects; without one (the
field's practice on Human3.6M) it is the last epoch's model. Every epoch
writes ``last.pt`` and ``best.pt`` atomically, a CSV log and TensorBoard
scalars. ``--resume`` continues bit-identically on CPU: batches and flips
are a function of (seed, epoch), and the RNG state travels in the checkpoint.

Each process's part of a run is a ``_Trainer``: ``build`` makes the data
sets, model, optimizer and scheduler once, ``resume`` loads ``last.pt``
into them, and ``fit`` runs the epochs (``run_epoch``: the steps, skipping
non-finite ones; ``end_epoch``: validation, checkpoints, log). Settings and
the learning-rate schedule are in :mod:`models.pose.train.config`, the DDP
helpers in :mod:`models.pose.train.distributed`, the run directory and its
log in :mod:`models.pose.train.run_directory`.
"""
import argparse
import math
import os
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm  # a dependency of torch_geometric

from models.common.files import RunDirectoryLock
from models.pose.evaluate.scoring import evaluate_windows
from models.pose.nn.checkpoint import (
    CheckpointError,
    check_resume_state,
    checked_model_config,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from models.pose.nn.config import (
    PRESETS,
    VARIANTS,
    ModelConfig,
    preset_config,
)
from models.pose.nn.model import MLPGraphWJ
from models.pose.train.config import (
    DEMO_DEFAULTS,
    TrainConfig,
    lr_factor_at_step,
)
from models.pose.train.distributed import setup_distributed, sync_batchnorm
from models.pose.train.loss import loss_eq11
from models.pose.train.run_directory import (
    RunLog,
    claim_run_directory,
    remove_interrupted_writes,
)


def train(model_cfg: ModelConfig, cfg: TrainConfig, data_path: Path,
          out_dir: Path, resume: bool = False, ddp_timeout_s: float = 300.0,
          progress: bool = True, overwrite: bool = False) -> Dict[str, Any]:
    """Train, scoring the validation split (if ``cfg.val_fraction``) after
    every epoch. The test subjects are not looked at here.

    ``out_dir`` must be new or empty, unless ``resume`` (continue its
    ``last.pt``) or ``overwrite`` (delete the run in it first); the main
    process holds an exclusive lock on it for the whole run, so a second
    run into the same directory fails at once.

    Returns a summary dict (best validation MPJPE, history, per-step
    losses).
    """
    if resume and overwrite:
        raise ValueError('--resume and --overwrite contradict each other: '
                         'give one')
    if int(os.environ.get('RANK', '0')) != 0:
        return _train(model_cfg, cfg, data_path, out_dir, resume,
                      ddp_timeout_s, progress)
    with RunDirectoryLock(out_dir, '--out'):
        claim_run_directory(Path(out_dir), resume, overwrite)
        return _train(model_cfg, cfg, data_path, out_dir, resume,
                      ddp_timeout_s, progress)


def _train(model_cfg: ModelConfig, cfg: TrainConfig, data_path: Path,
           out_dir: Path, resume: bool, ddp_timeout_s: float,
           progress: bool) -> Dict[str, Any]:
    trainer = _Trainer(model_cfg, cfg, data_path, Path(out_dir),
                       ddp_timeout_s, progress)
    try:
        trainer.build()
        if resume:
            trainer.resume()
        return trainer.fit()
    finally:
        trainer.close()


class NonFiniteLossError(RuntimeError):
    """Training diverged: too many consecutive non-finite steps, or weights
    that overflowed."""


class _Stop:
    """Turns SIGINT/SIGTERM into a flag checked between steps, so the run
    can save a final checkpoint instead of dying mid-write."""

    def __init__(self):
        self.requested: Optional[str] = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def build_optimizer(model: nn.Module,
                    cfg: TrainConfig) -> torch.optim.Optimizer:
    """The paper's optimizer: AMSGrad at ``cfg.lr``, as PyTorch's fused
    kernel on CPUs and CUDA devices (one pass over all parameters instead
    of about ten per tensor; the same update to fp32 rounding)."""
    params = list(model.parameters())
    fused = all(p.device.type in ('cpu', 'cuda') and p.is_floating_point()
                for p in params)
    return torch.optim.Adam(params, lr=cfg.lr, amsgrad=True,
                            fused=fused or None)


@dataclass
class _Progress:
    """Where the run stands: what every checkpoint saves beside the model
    and optimizer, and what ``--resume`` restores."""
    epoch: int = 0  # the epoch to run next
    step: int = 0  # steps of it taken before a resume
    best_mpjpe: float = math.inf
    history: List[Dict[str, Any]] = field(default_factory=list)
    step_losses: List[float] = field(default_factory=list)
    #: running statistics of the epoch a mid-epoch checkpoint left
    epoch_stats: Dict[str, Any] = field(default_factory=dict)
    #: epoch and step of the ``last.pt`` on disk, if this run wrote or
    #: resumed one
    last_saved: Dict[str, int] = field(default_factory=dict)


@dataclass
class _EpochStats:
    """Running statistics of the epoch under way. A mid-epoch checkpoint
    saves them, so a resumed epoch logs the mean over all its steps."""
    start: float  # time.perf_counter() at its start, less earlier runs' time
    losses: List[float] = field(default_factory=list)
    samples: int = 0
    train_s: float = 0.0  # set when its last step is done


class _Trainer:
    """One process's part of a run. The pieces share what is on ``self``:
    the data sets, the model, optimizer and scheduler, the run's
    :class:`_Progress` and the main process's :class:`RunLog` (which does
    nothing on the other processes)."""

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig,
                 data_path: Path, out_dir: Path, ddp_timeout_s: float,
                 progress: bool):
        self.model_cfg, self.cfg = model_cfg, cfg
        self.data_path, self.out_dir = data_path, out_dir
        self.last_path, self.best_path = out_dir / 'last.pt', \
            out_dir / 'best.pt'
        self.rank, self.world, self.device = setup_distributed(ddp_timeout_s)
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        self.log = RunLog(out_dir, enabled=self.is_main)
        self.state = _Progress()
        self.bad_steps = 0  # consecutive skipped steps, across epochs

    def close(self) -> None:
        self.log.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    # -- build and resume ---------------------------------------------------

    def build(self) -> None:
        """The data sets, the model, its optimizer and scheduler, made once
        (:meth:`resume` loads a checkpoint into them)."""
        cfg = self.cfg
        if cfg.batch_size % self.world:
            raise ValueError(f"--batch-size {cfg.batch_size} must be "
                             f"divisible by the number of processes "
                             f"({self.world})")
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._load_data()
        steps_per_epoch = self.steps_per_epoch

        def schedule(step: int) -> float:  # a function: LambdaLR saves
            return lr_factor_at_step(step, steps_per_epoch, cfg)  # no state

        torch.manual_seed(cfg.seed)
        self.model = MLPGraphWJ(self.model_cfg).to(self.device)
        self.optimizer = build_optimizer(self.model, cfg)
        # stepped after every step position: the lr is a function of progress
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           schedule)
        if self.is_main:
            remove_interrupted_writes(self.out_dir)

    def _load_data(self) -> None:
        from models.pose.data.format import fingerprint, load_prepared
        from models.pose.data.loader import PoseWindows

        cfg = self.cfg
        self.data = load_prepared(self.data_path)
        self.data_fingerprint = fingerprint(self.data)
        common = dict(subjects=self.data.train_subjects,
                      joints=self.model_cfg.joints,
                      frames=self.model_cfg.frames, source=cfg.source)
        keep = 1.0 - cfg.val_fraction
        self.train_set = PoseWindows(self.data, stride=cfg.stride,
                                     portion=(0.0, keep), **common)
        self.val_set = (PoseWindows(self.data, stride=cfg.test_stride,
                                    portion=(keep, 1.0), **common)
                        if cfg.val_fraction else None)
        self.steps_per_epoch = len(self.train_set) // cfg.batch_size
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch,
                                       cfg.max_steps_per_epoch)

    def resume(self) -> None:
        """Load ``last.pt``, if there is one, into what :meth:`build` made:
        weights, optimizer, scheduler, RNG state and the run's progress."""
        path = self.last_path
        if not path.exists():
            self.log.say(f'--resume: no checkpoint at {path}, starting '
                         f'afresh')
            return
        state = load_checkpoint(path, map_location=self.device)
        check_resume_state(state, path, self.data_path,
                           self.data_fingerprint)
        checked_model_config(state, path, expected=self.model_cfg)
        load_weights(self.model, state, path)
        self._load_optimization(state)
        try:
            torch.set_rng_state(state['rng_cpu'])
        except (RuntimeError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {path}: key 'rng_cpu' is not a CPU RNG "
                f"state ({err})") from None
        self._load_progress(state)
        changed = {k: v for k, v in state.get('train_config', {}).items()
                   if asdict(self.cfg).get(k) != v}
        note = f' (changed settings: {changed})' if changed else ''
        self.log.say(f'Resuming {path} at epoch {self.state.epoch + 1}, '
                     f'step {self.state.step}{note}')

    def _load_optimization(self, state: Dict[str, Any]) -> None:
        # the scheduler's constructor reset the lr: the optimizer's state is
        # loaded after it
        for key, target in (('optimizer', self.optimizer),
                            ('scheduler', self.scheduler)):
            try:
                target.load_state_dict(state[key])
            except (ValueError, KeyError, TypeError, IndexError,
                    RuntimeError) as err:
                raise CheckpointError(
                    f"checkpoint {self.last_path}: key {key!r} does not fit "
                    f"this model ({type(err).__name__}: {err})") from None
        lr = self.cfg.lr
        if state.get('train_config', {}).get('lr', lr) != lr:
            # both state dicts carry the old lr: a new --lr (the usual cure
            # after a divergence) must win, on the same schedule
            schedule = self.scheduler.lr_lambdas[0]
            self.scheduler.base_lrs = [lr] * len(self.optimizer.param_groups)
            for group in self.optimizer.param_groups:
                group['lr'] = lr * schedule(self.scheduler.last_epoch)

    def _load_progress(self, state: Dict[str, Any]) -> None:
        progress = self.state
        progress.epoch, progress.step = state['epoch'], state['step_in_epoch']
        progress.best_mpjpe = state['best_mpjpe']
        progress.history = list(state['history'])
        progress.step_losses = state['step_losses'].tolist()
        progress.last_saved.update(epoch=progress.epoch, step=progress.step)
        if progress.step:
            # the epoch's running statistics, so that its logged mean loss
            # covers all its steps, not only those after the restart;
            # checkpoints without them: the last `step` losses (exact unless
            # a non-finite step was skipped in this epoch)
            progress.epoch_stats = dict(state.get('epoch_stats') or {
                'loss_count': min(progress.step, len(progress.step_losses)),
                'samples': 0, 'train_s': 0.0, 'bad_steps': 0})

    # -- the epochs ---------------------------------------------------------

    def fit(self) -> Dict[str, Any]:
        """Run the epochs left; stop early, saving ``last.pt``, on SIGINT or
        SIGTERM. Returns the summary :func:`train` returns."""
        cfg, progress = self.cfg, self.state
        self._check_batch_size()
        self.net: nn.Module = self.model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                sync_batchnorm(self.model))
        self.log.open_tensorboard()
        self.autocast = (torch.autocast(self.device.type,
                                        dtype=torch.bfloat16)
                         if cfg.bf16 else nullcontext())
        val_size = len(self.val_set) if self.val_set else 0
        self.log.say(
            f'Training {self.model_cfg.variant} model '
            f'({self.model.num_parameters():,} parameters, '
            f'T={self.model_cfg.frames}, {self.model_cfg.joints} joints) on '
            f'{len(self.train_set):,} windows, validating on {val_size:,}; '
            f'{self.world} process(es), {torch.get_num_threads()} threads '
            f'each')
        with _Stop() as stop:
            for epoch in range(progress.epoch, cfg.epochs):
                stopped = self.run_epoch(epoch, stop)
                if stopped:
                    return {'stopped': stopped,
                            'step_losses': progress.step_losses}
                self.end_epoch(epoch)
        return {'best_mpjpe': progress.best_mpjpe,
                'history': progress.history,
                'step_losses': progress.step_losses}

    def _check_batch_size(self) -> None:
        cfg, windows = self.cfg, len(self.train_set)
        if windows < cfg.batch_size:
            raise ValueError(
                f"--batch-size {cfg.batch_size} is larger than the "
                f"{windows} training windows of {self.data_path} (subjects "
                f"{', '.join(self.data.train_subjects) or 'none'}, stride "
                f"{cfg.stride}, --val-fraction {cfg.val_fraction:g}): the "
                f"last incomplete batch is dropped, so an epoch would take "
                f"no step; use --batch-size {max(windows, 1)} or less")

    def run_epoch(self, epoch: int, stop: _Stop) -> Optional[str]:
        """The optimizer steps of one epoch (those after the resumed
        position, if it is the epoch a checkpoint left). Returns the name
        of the signal that stopped it, after saving ``last.pt``."""
        cfg = self.cfg
        self.net.train()
        batches = self.train_set.iterate_batches(
            cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch,
            flip_augment=cfg.flip_augment, rank=self.rank,
            world_size=self.world, drop_last=True)
        total = self.steps_per_epoch
        bar = tqdm(total=total, desc=f'epoch {epoch + 1}/{cfg.epochs}',
                   leave=False, mininterval=2.0, dynamic_ncols=True,
                   disable=not self.progress)
        self.epoch_stats = self._start_epoch()
        for step, (inputs, targets) in enumerate(batches):
            if step >= total:
                break
            if step < self.state.step:  # resuming inside this epoch
                bar.update(1)
                continue
            loss = self._step(inputs, targets, epoch, step)
            bar.update(1)
            if loss is None:  # skipped
                continue
            bar.set_postfix(loss=f'{loss:.5f}', refresh=False)
            requested = stop.requested
            if requested or (cfg.save_every_steps and
                             (step + 1) % cfg.save_every_steps == 0):
                self._save(epoch, step + 1, self.last_path)
            if requested:
                bar.close()
                self.log.say(f'{requested}: saved {self.last_path} at epoch '
                             f'{epoch + 1} step {step + 1}; continue with '
                             f'--resume')
                return requested
        bar.close()
        self.epoch_stats.train_s = time.perf_counter() - \
            self.epoch_stats.start
        bad = _non_finite_weight(self.model)
        if bad:  # finite steps can still overflow the weights
            raise NonFiniteLossError(
                f'epoch {epoch + 1}: the weights became non-finite '
                f'({bad!r} holds NaN or inf; learning rate too high, or '
                f'bf16 overflow?): stopping. {self._last_good()}')
        self.state.step = 0
        return None

    def _start_epoch(self) -> _EpochStats:
        stats = _EpochStats(start=time.perf_counter())
        saved, done = self.state.epoch_stats, self.state.step
        if done and saved:  # resuming inside this epoch
            losses = self.state.step_losses
            stats.losses = losses[len(losses) - int(saved['loss_count']):]
            stats.samples = int(saved['samples'])
            stats.start -= float(saved['train_s'])
            self.bad_steps = int(saved.get('bad_steps', 0))
        return stats

    def _step(self, inputs: torch.Tensor, targets: torch.Tensor, epoch: int,
              step: int) -> Optional[float]:
        """One optimizer step; its loss, or ``None`` if the loss or a
        gradient was non-finite and the step was skipped."""
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        with self.autocast:
            pred = self.net(inputs)
        loss = loss_eq11(pred.float(), targets, self.cfg.lam)
        self.optimizer.zero_grad(set_to_none=True)
        # backward runs even for a bad loss: under DDP every rank must join
        # the gradient all-reduce, after which a NaN on any rank is in every
        # rank's gradients, so all skip alike
        loss.backward()
        if not _finite_step(loss, self.model):
            self._skip_step(loss, epoch, step)
            return None
        self.bad_steps = 0
        self.optimizer.step()
        self.scheduler.step()
        value = float(loss.detach())
        self.epoch_stats.losses.append(value)
        self.state.step_losses.append(value)
        self.epoch_stats.samples += inputs.size(0) * self.world
        return value

    def _skip_step(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        self.bad_steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.log.warn(f'epoch {epoch + 1} step {step + 1}: non-finite loss '
                      f'or gradient (loss {float(loss.detach()):.4g}), step '
                      f'skipped ({self.bad_steps} in a row)')
        if self.bad_steps > self.cfg.max_bad_steps:
            raise NonFiniteLossError(
                f'{self.bad_steps} steps in a row had a non-finite loss or '
                f'gradient (learning rate too high, or bf16 overflow?): '
                f'stopping. {self._last_good()}')
        self.scheduler.step()  # the lr follows the step position

    def end_epoch(self, epoch: int) -> None:
        """Validation, ``last.pt``, ``best.pt`` (if it improved),
        ``log.csv``, TensorBoard and the epoch's line, all on the main
        process; the others wait for it."""
        if self.is_main:
            self._score_and_save(epoch)
        if self.world > 1:
            dist.barrier()

    def _score_and_save(self, epoch: int) -> None:
        cfg, progress, stats = self.cfg, self.state, self.epoch_stats
        row: Dict[str, Any] = {
            'epoch': epoch + 1,
            'train_loss': sum(stats.losses) / max(len(stats.losses), 1)}
        report, improved = '', True  # no validation: best.pt is the last
        if self.val_set is not None:
            results = evaluate_windows(
                self.model, self.val_set, batch_size=cfg.eval_batch_size,
                flip_test=cfg.flip_test, device=self.device)['average']
            mpjpe = results['mpjpe']
            row.update(val_mpjpe_mm=mpjpe, val_p_mpjpe_mm=results['p_mpjpe'])
            report = (f', val MPJPE {mpjpe:.1f} mm, P-MPJPE '
                      f"{row['val_p_mpjpe_mm']:.1f} mm")
            improved = mpjpe < progress.best_mpjpe
            progress.best_mpjpe = min(progress.best_mpjpe, mpjpe)
        row.update(lr=self.optimizer.param_groups[0]['lr'],
                   samples_per_s=stats.samples / max(stats.train_s, 1e-9))
        progress.history.append(row)
        self._save(epoch + 1, 0, self.last_path)
        if improved:
            self._save(epoch + 1, 0, self.best_path)
        self.log.epoch(progress.history)
        mark = ' (best)' if improved and self.val_set is not None else ''
        self.log.say(f"epoch {epoch + 1}/{cfg.epochs}: loss "
                     f"{row['train_loss']:.5f}{report}, "
                     f"{row['samples_per_s']:.0f} samples/s{mark}")

    # -- checkpoints --------------------------------------------------------

    def _save(self, epoch: int, step_in_epoch: int, path: Path) -> None:
        """Write a checkpoint of the run at this position (main process
        only: the others hold the same state)."""
        if not self.is_main:
            return
        stats = {}
        if step_in_epoch:  # mid-epoch: what the epoch's log row needs
            stats = {'loss_count': len(self.epoch_stats.losses),
                     'samples': self.epoch_stats.samples,
                     'train_s': time.perf_counter() - self.epoch_stats.start,
                     'bad_steps': self.bad_steps}
        progress = self.state
        save_checkpoint(path, {
            'model': self.model.state_dict(),
            'model_config': self.model_cfg.to_dict(),
            'train_config': asdict(self.cfg),
            'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(),
            'rng_cpu': torch.get_rng_state(), 'epoch': epoch,
            'step_in_epoch': step_in_epoch,
            'best_mpjpe': progress.best_mpjpe, 'history': progress.history,
            'epoch_stats': stats, 'data_fingerprint': self.data_fingerprint,
            'data': str(self.data_path),
            'step_losses': torch.tensor(progress.step_losses,
                                        dtype=torch.float64)})
        if path == self.last_path:
            progress.last_saved.update(epoch=epoch, step=step_in_epoch)

    def _last_good(self) -> str:
        """What is on disk now, said truthfully (only finite states are
        ever saved, and a non-finite ``last.pt`` is refused when resumed)."""
        saved = self.state.last_saved
        if saved:
            where = (f"epoch {saved['epoch'] + 1}, step {saved['step']}"
                     if saved['step'] else f"end of epoch {saved['epoch']}")
            return (f'The last good checkpoint, {self.last_path} ({where}), '
                    f'was not touched.')
        return f'No checkpoint was written to {self.last_path} by this run.'


def _non_finite_weight(model: nn.Module) -> Optional[str]:
    """The name of the first parameter or buffer holding NaN or inf."""
    for name, value in list(model.named_parameters()) + \
            list(model.named_buffers()):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


def _finite_step(loss: torch.Tensor, model: nn.Module) -> bool:
    """Whether the loss and every gradient are finite."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return bool(torch.isfinite(loss))
    norm = torch.nn.utils.get_total_norm(grads)
    return bool(torch.isfinite(loss) & torch.isfinite(norm))


# -- the command --------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser.add_argument_group('model'))
    _data_arguments(parser.add_argument_group('data and run directory'))
    _optimisation_arguments(parser.add_argument_group('optimisation'))
    _validation_arguments(parser.add_argument_group(
        'validation and evaluation'))
    _process_arguments(parser.add_argument_group('processes and output'))


def _model_arguments(group) -> None:
    group.add_argument('--preset', default='demo',
                       help=f"architecture preset: {', '.join(PRESETS)}")
    group.add_argument('--joints', type=int, choices=(16, 17), default=None,
                       help='17 (Human3.6M) or 16 (no neck/nose)')
    group.add_argument('--variant', choices=VARIANTS, default='wj',
                       help='ablation variant (Table 3)')
    group.add_argument('--authors-diagonal', action='store_true',
                       help="reproduce the authors' diagonal-only "
                       "neighbour term")
    group.add_argument('--dropout', type=float, default=None,
                       help='dropout rate (default: the preset\'s, 0.2)')


def _data_arguments(group) -> None:
    group.add_argument('--data', type=Path, default=None,
                       help='prepared .npz (default: the built-in demo)')
    group.add_argument('--source', default=None,
                       help="2D source in the data file (default: 'noisy' "
                       "for the demo, else 'gt')")
    group.add_argument('--stride', type=int, default=None,
                       help='use every k-th training window')
    group.add_argument('--out', type=Path, default=None,
                       help='output directory (default: runs/<preset>)')
    group.add_argument('--resume', action='store_true',
                       help='continue from <out>/last.pt')
    group.add_argument('--overwrite', action='store_true',
                       help='replace the run in a non-empty --out (its '
                       'checkpoints, log and TensorBoard scalars are '
                       'deleted first); without it or --resume a '
                       'non-empty --out is refused')


def _optimisation_arguments(group) -> None:
    d = TrainConfig()
    group.add_argument('--epochs', type=int, default=None)
    group.add_argument('--batch-size', type=int, default=None,
                       help=f'global batch size (default: {d.batch_size}; '
                       f'the demo: {DEMO_DEFAULTS["batch_size"]})')
    group.add_argument('--lr', type=float, default=d.lr)
    group.add_argument('--lr-epoch-min-steps', type=int,
                       default=d.lr_epoch_min_steps,
                       help='a learning-rate schedule epoch lasts one epoch '
                       'or this many optimizer steps, whichever is longer '
                       f'(default: {d.lr_epoch_min_steps}; 0: the paper\'s '
                       'per-epoch schedule on any data)')
    group.add_argument('--lambda', dest='lam', type=float, default=d.lam)
    group.add_argument('--seed', type=int, default=d.seed)
    group.add_argument('--no-flip-augment', action='store_true')
    group.add_argument('--bf16', action='store_true',
                       help='bfloat16 autocast')
    group.add_argument('--max-steps-per-epoch', type=int, default=0)


def _validation_arguments(group) -> None:
    group.add_argument('--val-fraction', type=float, default=None,
                       help='share of every training sequence (its end) '
                       'held out to choose best.pt (default: '
                       f'{DEMO_DEFAULTS["val_fraction"]} on the demo, else '
                       '0: best.pt is the last epoch, as the field reports '
                       'Human3.6M)')
    group.add_argument('--no-flip-test', action='store_true')
    group.add_argument('--no-evaluate', action='store_true',
                       help='skip the final evaluation and picture')


def _process_arguments(group) -> None:
    group.add_argument('--save-every-steps', type=int, default=0)
    group.add_argument('--threads', type=int, default=0,
                       help='torch threads per process (0: default)')
    group.add_argument('--ddp-timeout', type=float, default=300.0,
                       help='seconds before a stuck DDP collective fails')
    group.add_argument('--no-progress', action='store_true')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    overrides: Dict[str, Any] = {'variant': args.variant,
                                 'authors_diagonal': args.authors_diagonal}
    if args.joints is not None:
        overrides['joints'] = args.joints
    if args.dropout is not None:
        overrides['dropout'] = args.dropout
    model_cfg = preset_config(args.preset, **overrides)
    _check_process_options(args)
    demo_data = args.data is None
    cfg = _train_config(args, DEMO_DEFAULTS if demo_data else {})
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.out or Path('runs') / args.preset
    is_main = int(os.environ.get('RANK', '0')) == 0
    if is_main:  # the lock covers the training and the final evaluation
        with RunDirectoryLock(out_dir, '--out'):
            return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)
    return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)


def _check_process_options(args: argparse.Namespace) -> None:
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), "
                         f"got {args.threads}")
    if not (math.isfinite(args.ddp_timeout) and args.ddp_timeout > 0):
        raise ValueError(f"--ddp-timeout must be a positive number of "
                         f"seconds, got {args.ddp_timeout}")
    if args.dropout is not None and not (math.isfinite(args.dropout) and
                                         0 <= args.dropout < 1):
        raise ValueError(f"--dropout must lie in [0, 1), got {args.dropout}")


def _train_config(args: argparse.Namespace,
                  defaults: Dict[str, Any]) -> TrainConfig:
    """The flags' settings; ``defaults`` (the demo's) stand in for flags
    not given."""
    def given(value, key, fallback):  # 0 is a value, not "the default"
        return value if value is not None else defaults.get(key, fallback)

    return TrainConfig(
        epochs=given(args.epochs, 'epochs', TrainConfig.epochs),
        batch_size=given(args.batch_size, 'batch_size',
                         TrainConfig.batch_size),
        lr=args.lr, lam=args.lam, seed=args.seed,
        lr_epoch_min_steps=args.lr_epoch_min_steps,
        val_fraction=given(args.val_fraction, 'val_fraction', 0.0),
        source=args.source or defaults.get('source', 'gt'),
        stride=given(args.stride, 'stride', 1),
        test_stride=defaults.get('test_stride', 1),
        flip_augment=not args.no_flip_augment, flip_test=not args.no_flip_test,
        bf16=args.bf16, max_steps_per_epoch=args.max_steps_per_epoch,
        save_every_steps=args.save_every_steps)


def _run(args, model_cfg, cfg, demo_data, out_dir, is_main):
    from models.pose.data.demo import ensure_demo

    data_path = ensure_demo() if demo_data else args.data
    start = time.perf_counter()
    summary = train(model_cfg, cfg, data_path, out_dir, resume=args.resume,
                    ddp_timeout_s=args.ddp_timeout,
                    progress=not args.no_progress, overwrite=args.overwrite)
    if is_main and not args.no_evaluate and 'stopped' not in summary:
        from models.pose.evaluate.scoring import evaluate_checkpoint
        evaluate_checkpoint(out_dir / 'best.pt', data_path, out_dir,
                            source=cfg.source, flip_test=cfg.flip_test,
                            pictures=True, val_fraction=cfg.val_fraction)
        print(f'Training and evaluation took '
              f'{time.perf_counter() - start:.0f} s; outputs in {out_dir}',
              flush=True)
    return summary

"""Training: :func:`train`, run by ``python -m models.pose train`` (one
process) or ``torchrun --nproc_per_node N -m models.pose train`` (DDP, same
flags; the command line is :mod:`models.pose.cli.train`).

Schedule and loss follow the paper: loss eq. (11) with lambda = 0.01,
AMSGrad at lr 1e-3, decayed x0.95 after every epoch and x0.5 after every 5
epochs, 50 epochs, batch 256. The paper's epochs are Human3.6M's, thousands
of steps long; so that the same schedule suits small data sets, a schedule
epoch lasts one epoch or ``lr_epoch_min_steps`` optimizer steps, whichever
is longer (on Human3.6M that is exactly the paper's schedule).

``best.pt`` is chosen on a validation split (the last ``val_fraction`` of
every training sequence), never on the test subjects; without one (the
field's practice on Human3.6M) it is the last epoch's model. Every epoch
writes ``best.pt`` (if it improved), ``last.pt`` and ``log.csv``, in that
order and each atomically, and TensorBoard scalars. ``--resume``
continues bit-identically on CPU: batches and flips are a function of
(seed, epoch), and the RNG state travels in the checkpoint.

Each process's part of a run is a :class:`Trainer`: ``build`` makes the
data sets, model, optimizer and scheduler once, ``resume`` loads
``last.pt`` into them, and ``fit`` runs the epochs (``run_epoch``: the
steps, skipping non-finite ones; ``end_epoch``: validation, checkpoints,
log). What a checkpoint holds beside model and optimizer is a
:class:`~models.pose.train.state.TrainState`; settings and schedule are in
:mod:`~models.pose.train.config`, optimizer and scheduler in
:mod:`~models.pose.train.optimizer`, the DDP helpers in
:mod:`~models.pose.train.distributed`, the run directory and its log in
:mod:`~models.pose.train.run_directory`.
"""
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, Optional

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm  # a dependency of torch_geometric

from models.common.faults import fault_point
from models.common.files import RunDirectoryLock
from models.pose.evaluate.scoring import evaluate_windows
from models.pose.nn.checkpoint import save_checkpoint
from models.pose.nn.config import ModelConfig
from models.pose.train.build import build_run, resume_run
from models.pose.train.config import TrainConfig
from models.pose.train.distributed import setup_distributed, sync_batchnorm
from models.pose.train.errors import NonFiniteLossError
from models.pose.train.loss import loss_eq11
from models.pose.train.run_directory import (
    RunLog,
    claim_run_directory,
    remove_interrupted_writes,
)
from models.pose.train.state import TrainState
from models.pose.train.stop import StopSignals
from models.pose.train.windows import check_batch_size

__all__ = ['train', 'Trainer', 'TrainConfig', 'NonFiniteLossError']


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
    trainer = Trainer(model_cfg, cfg, data_path, Path(out_dir),
                      ddp_timeout_s, progress)
    try:
        trainer.build()
        if resume:
            trainer.resume()
        return trainer.fit()
    finally:
        trainer.close()


class Trainer:
    """One process's part of a run. The pieces share what is on ``self``:
    the windows, the model, optimizer and scheduler, the run's
    :class:`TrainState` and the main process's :class:`RunLog` (which does
    nothing on the other processes)."""

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig,
                 data_path: Path, out_dir: Path, ddp_timeout_s: float,
                 progress: bool):
        self.model_cfg, self.cfg = model_cfg, cfg
        self.data_path, self.out_dir = data_path, out_dir
        self.last_path = out_dir / 'last.pt'
        self.best_path = out_dir / 'best.pt'
        self.rank, self.world, self.device = setup_distributed(ddp_timeout_s)
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        self.log = RunLog(out_dir, enabled=self.is_main)

    def close(self) -> None:
        self.log.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def build(self) -> None:
        """The windows, the model, its optimizer and scheduler and a new
        run's state, made once (:meth:`resume` loads a checkpoint into
        them)."""
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.parts = parts = build_run(self.model_cfg, self.cfg,
                                       self.data_path, self.device,
                                       self.world)
        self.windows, self.model = parts.windows, parts.model
        self.optimizer, self.scheduler = parts.optimizer, parts.scheduler
        if self.is_main:
            remove_interrupted_writes(self.out_dir)

    @property
    def state(self) -> TrainState:
        return self.parts.state

    def resume(self) -> None:
        """Load ``last.pt``, if there is one, into what :meth:`build` made
        (:func:`~models.pose.train.build.resume_run`)."""
        path = self.last_path
        if not path.exists():
            self.log.say(f'--resume: no checkpoint at {path}, starting '
                         f'afresh')
            return
        changed = resume_run(self.parts, path, self.cfg, self.data_path,
                             self.device)
        note = f' (changed settings: {changed})' if changed else ''
        self.log.say(f'Resuming {path} at epoch {self.state.epoch + 1}, '
                     f'step {self.state.step}{note}')

    def fit(self) -> Dict[str, Any]:
        """Run the epochs left; stop early, saving ``last.pt``, on SIGINT or
        SIGTERM. Returns the summary :func:`train` returns."""
        cfg, state = self.cfg, self.state
        check_batch_size(self.windows, cfg, self.data_path)
        self.net = _network(self.model, self.world)
        self.autocast = (torch.autocast(self.device.type,
                                        dtype=torch.bfloat16)
                         if cfg.bf16 else nullcontext())
        self.log.start(state.history)  # a resumed run's log made whole
        self.log.say(_describe(self))
        with StopSignals() as stop:
            while state.epoch < cfg.epochs:
                stopped = self.run_epoch(stop)
                if stopped:
                    return {'stopped': stopped,
                            'step_losses': state.step_losses}
                self.end_epoch()
        return {'best_mpjpe': state.best_mpjpe, 'history': state.history,
                'step_losses': state.step_losses}

    def run_epoch(self, stop: StopSignals) -> Optional[str]:
        """The optimizer steps of the epoch under way (those after the
        resumed position, if a checkpoint left it part-way). Returns the
        name of the signal that stopped it, after saving ``last.pt``."""
        cfg, state = self.cfg, self.state
        epoch, total = state.epoch, self.windows.steps_per_epoch
        self.net.train()
        batches = self.windows.train_set.iterate_batches(
            cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch,
            flip_augment=cfg.flip_augment, rank=self.rank,
            world_size=self.world, drop_last=True,
            augment=self.windows.augment)
        bar = tqdm(total=total, initial=state.step, leave=False,
                   desc=f'epoch {epoch + 1}/{cfg.epochs}', mininterval=2.0,
                   dynamic_ncols=True, disable=not self.progress)
        stats = state.start_epoch()
        for step, (inputs, targets) in enumerate(batches):
            if step >= total:
                break
            if step < state.step:  # done before the resume
                continue
            loss = self._step(inputs, targets)
            state.step = step + 1
            bar.update(1)
            if loss is None:  # skipped
                continue
            bar.set_postfix(loss=f'{loss:.5f}', refresh=False)
            requested = stop.requested  # read once: a signal may come now
            if requested or (cfg.save_every_steps and
                             state.step % cfg.save_every_steps == 0):
                self._save_last()
            if requested:
                bar.close()
                self.log.say(f'{requested}: saved {self.last_path} at '
                             f'epoch {epoch + 1} step {state.step}; '
                             f'continue with --resume')
                return requested
        bar.close()
        stats.stop()  # the epoch's training time, validation left out
        _check_weights(self.model, epoch, state.last_good(self.last_path))
        return None

    def _step(self, inputs: torch.Tensor,
              targets: torch.Tensor) -> Optional[float]:
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
            self._skip_step(loss)
            return None
        self.optimizer.step()
        self.scheduler.step()
        value = float(loss.detach())
        self.state.record_step(value, inputs.size(0) * self.world)
        return value

    def _skip_step(self, loss: torch.Tensor) -> None:
        state = self.state
        state.bad_steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.log.warn(f'epoch {state.epoch + 1} step {state.step + 1}: '
                      f'non-finite loss or gradient (loss '
                      f'{float(loss.detach()):.4g}), step skipped '
                      f'({state.bad_steps} in a row)')
        if state.bad_steps > self.cfg.max_bad_steps:
            raise NonFiniteLossError(
                f'{state.bad_steps} steps in a row had a non-finite loss or '
                f'gradient (learning rate too high, or bf16 overflow?): '
                f'stopping. {state.last_good(self.last_path)}')
        self.scheduler.step()  # the lr follows the step position

    def end_epoch(self) -> None:
        """Validation, checkpoints, ``log.csv``, TensorBoard and the
        epoch's line, all on the main process; the others wait for it."""
        if self.is_main:
            self._score_and_save()
        else:  # the same position; the log row is the main process's
            self.state.end_epoch()
        if self.world > 1:
            fault_point('ddp-barrier')
            dist.barrier()

    def _score_and_save(self) -> None:
        cfg, state, stats = self.cfg, self.state, self.state.running
        row: Dict[str, Any] = {
            'epoch': state.epoch + 1,
            'train_loss': sum(stats.losses) / max(len(stats.losses), 1)}
        improved = True  # no validation: best.pt is the last epoch's
        if self.windows.val_set is not None:
            row.update(_validate(self.model, self.windows.val_set, cfg,
                                 self.device))
            improved = row['val_mpjpe_mm'] < state.best_mpjpe
            state.best_mpjpe = min(state.best_mpjpe, row['val_mpjpe_mm'])
        row.update(lr=self.optimizer.param_groups[0]['lr'],
                   samples_per_s=stats.samples / max(stats.train_s, 1e-9))
        state.end_epoch(row)
        # best.pt before last.pt: a kill between them resumes from the
        # previous last.pt and writes this same best.pt again, whereas the
        # other order would lose it (last.pt says the epoch is done)
        if improved:
            save_checkpoint(self.best_path, self.parts.checkpoint())
            fault_point('after-best')
        self._save_last()
        self.log.epoch(state.history)
        fault_point('after-log')
        self.log.say(_epoch_line(row, cfg.epochs, improved))

    def _save_last(self) -> None:
        """Write ``last.pt`` (the main process: the others hold the same
        state)."""
        if not self.is_main:
            return
        save_checkpoint(self.last_path, self.parts.checkpoint())
        self.state.saved_as_last()
        fault_point('after-last')


def _network(model: nn.Module, world: int) -> nn.Module:
    """What the steps call: the model, under DDP wrapped to all-reduce
    gradients and BatchNorm statistics."""
    if world == 1:
        return model
    return nn.parallel.DistributedDataParallel(sync_batchnorm(model))


def _validate(model: nn.Module, windows, cfg: TrainConfig,
              device: torch.device) -> Dict[str, float]:
    """The epoch's log columns of the validation split."""
    results = evaluate_windows(model, windows,
                               batch_size=cfg.eval_batch_size,
                               flip_test=cfg.flip_test,
                               device=device)['average']
    return {'val_mpjpe_mm': results['mpjpe'],
            'val_p_mpjpe_mm': results['p_mpjpe']}


def _epoch_line(row: Dict[str, Any], epochs: int, improved: bool) -> str:
    """The console line that closes an epoch."""
    report = (f", val MPJPE {row['val_mpjpe_mm']:.1f} mm, P-MPJPE "
              f"{row['val_p_mpjpe_mm']:.1f} mm"
              if 'val_mpjpe_mm' in row else '')
    mark = ' (best)' if improved and report else ''
    return (f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.5f}"
            f"{report}, {row['samples_per_s']:.0f} samples/s{mark}")


def _describe(trainer: 'Trainer') -> str:
    """The line that opens a run."""
    model_cfg, windows = trainer.model_cfg, trainer.windows
    val_size = len(windows.val_set) if windows.val_set else 0
    return (f'Training {model_cfg.variant} model '
            f'({trainer.model.num_parameters():,} parameters, '
            f'T={model_cfg.frames}, {model_cfg.joints} joints) on '
            f'{len(windows.train_set):,} windows, validating on '
            f'{val_size:,}; {trainer.world} process(es), '
            f'{torch.get_num_threads()} threads each; '
            f'{_augment_text(windows.augment, trainer.cfg)}')


def _augment_text(augment, cfg: TrainConfig) -> str:
    """What the windows are augmented with, for the opening line."""
    flips = 'flips' if cfg.flip_augment else 'no flips'
    if augment is None:
        return f'augmentation: {flips} only'
    low, high = augment.bone_scale
    return (f'augmentation: {flips}, virtual cameras on '
            f'{augment.probability:.0%} of the windows, bones x{low:g} to '
            f'x{high:g}, detector noise {augment.noise_px:g} px')


def _check_weights(model: nn.Module, epoch: int, last_good: str) -> None:
    """Stop if a parameter or buffer holds NaN or inf: finite steps can
    still overflow the weights, too late in an epoch to be skipped."""
    for name, value in list(model.named_parameters()) + \
            list(model.named_buffers()):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise NonFiniteLossError(
                f'epoch {epoch + 1}: the weights became non-finite '
                f'({name!r} holds NaN or inf; learning rate too high, or '
                f'bf16 overflow?): stopping. {last_good}')


def _finite_step(loss: torch.Tensor, model: nn.Module) -> bool:
    """Whether the loss and every gradient are finite."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return bool(torch.isfinite(loss))
    norm = torch.nn.utils.get_total_norm(grads)
    return bool(torch.isfinite(loss) & torch.isfinite(norm))

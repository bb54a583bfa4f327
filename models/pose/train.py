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
"""
import argparse
import csv
import datetime
import io
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn

from models.pose.checkpoint import (
    CheckpointError,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from models.pose.evaluate import evaluate_windows
from models.pose.io_utils import (
    LOCK_NAME,
    RunDirectoryLock,
    atomic_write,
    remove_stale_temporaries,
)
from models.pose.loss import loss_eq11
from models.pose.model import MLPGraphWJ, ModelConfig, preset_config


@dataclass
class TrainConfig:
    """Optimisation settings; the paper's are the defaults."""
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 0.95  # after every epoch
    lr_step_decay: float = 0.5  # after every `lr_step_every` epochs
    lr_step_every: int = 5
    #: a schedule epoch lasts max(one epoch, this many optimizer steps)
    lr_epoch_min_steps: int = 1000
    #: share of every training sequence (its end) held out for validation
    val_fraction: float = 0.0
    lam: float = 0.01  # lambda of eq. (11)
    seed: int = 0
    source: str = 'gt'
    stride: int = 1
    test_stride: int = 1
    flip_augment: bool = True
    flip_test: bool = True
    bf16: bool = False
    max_steps_per_epoch: int = 0  # 0: the whole epoch
    save_every_steps: int = 0  # 0: only at the end of every epoch
    max_bad_steps: int = 20
    eval_batch_size: int = 1024

    def __post_init__(self):
        check_train_config(self)


#: (field, command-line flag, smallest allowed value) of every integer
#: setting: a value below the bound is an error, never a silent default
_INT_BOUNDS = (('epochs', '--epochs', 1), ('batch_size', '--batch-size', 1),
               ('lr_step_every', None, 1), ('seed', '--seed', 0),
               ('stride', '--stride', 1), ('test_stride', None, 1),
               ('max_steps_per_epoch', '--max-steps-per-epoch', 0),
               ('save_every_steps', '--save-every-steps', 0),
               ('max_bad_steps', None, 0), ('eval_batch_size', None, 1),
               ('lr_epoch_min_steps', '--lr-epoch-min-steps', 0))


def _name(field: str, flag: Optional[str]) -> str:
    return f'{flag} ({field})' if flag else field


def check_train_config(cfg: 'TrainConfig') -> None:
    """Refuse settings no run can use, naming the flag and the value."""
    for field, flag, low in _INT_BOUNDS:
        value = getattr(cfg, field)
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < low:
            raise ValueError(f"{_name(field, flag)} must be an integer >= "
                             f"{low}, got {value!r}")
    for field, flag, low, high in (('lr', '--lr', 0.0, math.inf),
                                   ('lr_decay', None, 0.0, 1.0),
                                   ('lr_step_decay', None, 0.0, 1.0),
                                   ('lam', '--lambda', 0.0, 1.0),
                                   ('val_fraction', '--val-fraction', 0.0,
                                    1.0)):
        value = getattr(cfg, field)
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and math.isfinite(value) and low <= value <= high)
        if field in ('lr', 'val_fraction'):  # open at one end
            ok = ok and (value > 0 if field == 'lr' else value < 1)
        if not ok:
            bound = {'lr': 'a finite number > 0',
                     'val_fraction': 'a number in [0, 1)'}.get(
                field, f'a number in [{low:g}, {high:g}]')
            raise ValueError(f"{_name(field, flag)} must be {bound}, got "
                             f"{value!r}")


#: Settings of the README's main job: the demo preset on the built-in demo
#: data, sized to finish in a few minutes on 2 CPU cores.
DEMO_DEFAULTS = dict(epochs=30, batch_size=128, source='noisy', stride=1,
                     test_stride=1, val_fraction=0.1)


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier after ``epoch`` (0-based) schedule epochs."""
    return (cfg.lr_decay ** epoch *
            cfg.lr_step_decay ** (epoch // cfg.lr_step_every))


def schedule_epoch_steps(steps_per_epoch: int, cfg: TrainConfig) -> int:
    """Optimizer steps per schedule epoch: one epoch, or
    ``cfg.lr_epoch_min_steps`` if the epoch is shorter."""
    return max(steps_per_epoch, cfg.lr_epoch_min_steps, 1)


def lr_factor_at_step(step: int, steps_per_epoch: int,
                      cfg: TrainConfig) -> float:
    """Learning-rate multiplier for global optimizer step ``step``
    (0-based, counting every step position of every epoch)."""
    return lr_factor(step // schedule_epoch_steps(steps_per_epoch, cfg), cfg)


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


def _setup_distributed(timeout_s: float):
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world == 1:
        return 0, 1, torch.device('cpu')
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend,
                            timeout=datetime.timedelta(seconds=timeout_s))
    rank = dist.get_rank()
    device = torch.device('cpu')
    if backend == 'nccl':
        local = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local)
        device = torch.device('cuda', local)
    return rank, world, device


class _GlooBatchNorm(nn.BatchNorm1d):
    """BatchNorm whose training statistics cover the global batch of all
    processes (PyTorch's SyncBatchNorm only runs on GPUs). With it, DDP on
    N processes computes the same update as one process on the whole batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        stats = torch.cat([x.sum(0), (x * x).sum(0),
                           x.new_full((1, ), float(x.size(0)))])
        stats = all_reduce(stats)  # differentiable
        c = x.size(1)
        count = stats[-1]
        mean = stats[:c] / count
        var = stats[c:2 * c] / count - mean * mean
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(
                var.detach() * count / (count - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight + self.bias


def _sync_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm1d for one with cross-process statistics, in
    place, keeping parameters and buffers (so checkpoints stay plain)."""
    if torch.cuda.is_available():
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for child in module.modules():
        if type(child) is nn.BatchNorm1d:
            child.__class__ = _GlooBatchNorm
    return module


def _write_csv(path: Path, rows: List[Dict[str, Any]]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue().encode())


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print('tensorboard is not installed: no TensorBoard scalars '
              '(pip install -e ".[pose]")', file=sys.stderr)
        return None
    return SummaryWriter(str(out_dir / 'tensorboard'))


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
        _claim_run_directory(Path(out_dir), resume, overwrite)
        return _train(model_cfg, cfg, data_path, out_dir, resume,
                      ddp_timeout_s, progress)


#: what a run writes in its directory (``--overwrite`` removes these)
RUN_OUTPUTS = ('last.pt', 'best.pt', 'log.csv', 'metrics.json', 'metrics.md',
               'pose_typical.png', 'pose_worst.png', 'error_per_joint.png',
               'training_curves.png')


def _claim_run_directory(out_dir: Path, resume: bool,
                         overwrite: bool) -> None:
    """Refuse to start a new run over an existing one (called with the
    directory's lock held, so no other run is writing in it)."""
    present = sorted(p.name for p in out_dir.iterdir()
                     if p.name != LOCK_NAME)
    if not present:
        return
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
        import shutil
        removed = [n for n in RUN_OUTPUTS if (out_dir / n).is_file()]
        for name in removed:
            (out_dir / name).unlink()
        if (out_dir / 'tensorboard').is_dir():
            shutil.rmtree(out_dir / 'tensorboard')
            removed.append('tensorboard/')
        for name in ('last.pt', 'best.pt', 'log.csv'):
            removed += [p.name for p in remove_stale_temporaries(
                out_dir / name)]
        if removed:
            print(f'--overwrite: removed {", ".join(removed)} from {out_dir}',
                  flush=True)
        return
    raise ValueError(
        f"--out {out_dir} is not empty (it holds {shown}); refusing to "
        f"overwrite it: give --resume to continue the run in it, "
        f"--overwrite to replace it, or choose another --out")


def _train(model_cfg: ModelConfig, cfg: TrainConfig, data_path: Path,
           out_dir: Path, resume: bool, ddp_timeout_s: float,
           progress: bool) -> Dict[str, Any]:
    from models.pose.data.format import fingerprint, load_prepared
    from models.pose.data.loader import PoseWindows

    rank, world, device = _setup_distributed(ddp_timeout_s)
    is_main = rank == 0
    if cfg.batch_size % world:
        raise ValueError(f"--batch-size {cfg.batch_size} must be divisible "
                         f"by the number of processes ({world})")
    out_dir = Path(out_dir)
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    data = load_prepared(data_path)
    data_fingerprint = fingerprint(data)
    common = dict(joints=model_cfg.joints, frames=model_cfg.frames,
                  source=cfg.source)
    keep = 1.0 - cfg.val_fraction
    train_set = PoseWindows(data, subjects=data.train_subjects,
                            stride=cfg.stride, portion=(0.0, keep), **common)
    val_set = (PoseWindows(data, subjects=data.train_subjects,
                           stride=cfg.test_stride, portion=(keep, 1.0),
                           **common) if cfg.val_fraction else None)
    steps_per_epoch = len(train_set) // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

    def schedule(step: int) -> float:
        return lr_factor_at_step(step, steps_per_epoch, cfg)

    torch.manual_seed(cfg.seed)
    model = MLPGraphWJ(model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, amsgrad=True)
    # stepped after every step position: the lr is a function of progress
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    start_epoch, start_step = 0, 0
    best = math.inf
    history: List[Dict[str, Any]] = []
    step_losses: List[float] = []
    epoch_stats: Dict[str, Any] = {}  # of an epoch left mid-way
    last_saved: Dict[str, int] = {}  # where last.pt stands

    last_path, best_path = out_dir / 'last.pt', out_dir / 'best.pt'
    if is_main:
        _remove_stale_temporaries(out_dir)
    if resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=device)
        _check_resume_state(state, last_path, data_path, data_fingerprint)
        saved_train = state.get('train_config', {})
        model = build_model(state, last_path, expected=model_cfg).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr,
                                     amsgrad=True)
        # the scheduler's constructor resets the lr: load the optimizer after
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        for key, target in (('optimizer', optimizer),
                            ('scheduler', scheduler)):
            try:
                target.load_state_dict(state[key])
            except (ValueError, KeyError, TypeError, IndexError,
                    RuntimeError) as err:
                raise CheckpointError(
                    f"checkpoint {last_path}: key {key!r} does not fit this "
                    f"model ({type(err).__name__}: {err})") from None
        if saved_train.get('lr', cfg.lr) != cfg.lr:
            # both state dicts carry the old lr: a new --lr (the usual cure
            # after a divergence) must win, on the same schedule
            scheduler.base_lrs = [cfg.lr] * len(optimizer.param_groups)
            for group in optimizer.param_groups:
                group['lr'] = cfg.lr * schedule(scheduler.last_epoch)
        try:
            torch.set_rng_state(state['rng_cpu'])
        except (RuntimeError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {last_path}: key 'rng_cpu' is not a CPU RNG "
                f"state ({err})") from None
        start_epoch, start_step = state['epoch'], state['step_in_epoch']
        best = state['best_mpjpe']
        history = list(state['history'])
        step_losses = state['step_losses'].tolist()
        last_saved.update(epoch=start_epoch, step=start_step)
        if start_step:
            # the epoch's running statistics, so that its logged mean loss
            # covers all its steps, not only those after the restart;
            # checkpoints without them: the last start_step losses (exact
            # unless a non-finite step was skipped in this epoch)
            epoch_stats = dict(state.get('epoch_stats') or {
                'loss_count': min(start_step, len(step_losses)),
                'samples': 0, 'train_s': 0.0, 'bad_steps': 0})
        if is_main:
            changed = {k: v for k, v in saved_train.items()
                       if asdict(cfg).get(k) != v}
            note = f' (changed settings: {changed})' if changed else ''
            print(f'Resuming {last_path} at epoch {start_epoch + 1}, step '
                  f'{start_step}{note}', flush=True)
    elif resume and is_main:
        print(f'--resume: no checkpoint at {last_path}, starting afresh',
              flush=True)
    if len(train_set) < cfg.batch_size:
        raise ValueError(
            f"--batch-size {cfg.batch_size} is larger than the "
            f"{len(train_set)} training windows of {data_path} (subjects "
            f"{', '.join(data.train_subjects) or 'none'}, stride "
            f"{cfg.stride}, --val-fraction {cfg.val_fraction:g}): the last "
            f"incomplete batch is dropped, so an epoch would take no step; "
            f"use --batch-size "
            f"{max(len(train_set), 1)} or less")

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(_sync_batchnorm(model))
    writer = _tensorboard(out_dir) if is_main else None
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16)
                if cfg.bf16 else nullcontext())

    def checkpoint(epoch: int, step_in_epoch: int, path: Path) -> None:
        stats = {}
        if step_in_epoch:  # mid-epoch: what the epoch's log row needs
            stats = {'loss_count': len(epoch_losses), 'samples': seen,
                     'train_s': time.perf_counter() - t0,
                     'bad_steps': bad_steps}
        save_checkpoint(path, {
            'model': model.state_dict(), 'model_config': model_cfg.to_dict(),
            'train_config': asdict(cfg), 'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(),
            'rng_cpu': torch.get_rng_state(), 'epoch': epoch,
            'step_in_epoch': step_in_epoch, 'best_mpjpe': best,
            'history': history, 'epoch_stats': stats,
            'data_fingerprint': data_fingerprint, 'data': str(data_path),
            'step_losses': torch.tensor(step_losses, dtype=torch.float64)})
        if path == last_path:
            last_saved.update(epoch=epoch, step=step_in_epoch)

    if is_main:
        print(f'Training {model_cfg.variant} model ({model.num_parameters():,}'
              f' parameters, T={model_cfg.frames}, {model_cfg.joints} joints)'
              f' on {len(train_set):,} windows, validating on '
              f'{len(val_set) if val_set else 0:,}; {world} process(es), '
              f'{torch.get_num_threads()} threads each', flush=True)

    summary: Dict[str, Any] = {}
    bad_steps = 0
    with _Stop() as stop:
        for epoch in range(start_epoch, cfg.epochs):
            net.train()
            batches = train_set.iterate_batches(
                cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch,
                flip_augment=cfg.flip_augment, rank=rank, world_size=world,
                drop_last=True)
            total = steps_per_epoch
            bar = _progress(total, f'epoch {epoch + 1}/{cfg.epochs}',
                            progress and is_main)
            t0, seen, epoch_losses = time.perf_counter(), 0, []
            if start_step and epoch_stats:  # resuming inside this epoch
                count = int(epoch_stats['loss_count'])
                epoch_losses = step_losses[len(step_losses) - count:]
                seen = int(epoch_stats['samples'])
                t0 -= float(epoch_stats['train_s'])
                bad_steps = int(epoch_stats.get('bad_steps', 0))
            for step, (inputs, targets) in enumerate(batches):
                if step >= total:
                    break
                if step < start_step:  # resuming inside this epoch
                    bar.update(1)
                    continue
                inputs, targets = inputs.to(device), targets.to(device)
                with autocast:
                    pred = net(inputs)
                loss = loss_eq11(pred.float(), targets, cfg.lam)
                optimizer.zero_grad(set_to_none=True)
                # backward runs even for a bad loss: under DDP every rank
                # must join the gradient all-reduce, after which a NaN on
                # any rank is in every rank's gradients, so all skip alike
                loss.backward()
                if not _finite_step(loss, model):
                    bad_steps += 1
                    optimizer.zero_grad(set_to_none=True)
                    if is_main:
                        print(f'epoch {epoch + 1} step {step + 1}: non-'
                              f'finite loss or gradient (loss '
                              f'{float(loss.detach()):.4g}), step skipped ('
                              f'{bad_steps} in a row)', file=sys.stderr,
                              flush=True)
                    if bad_steps > cfg.max_bad_steps:
                        raise NonFiniteLossError(
                            f'{bad_steps} steps in a row had a non-finite '
                            f'loss or gradient (learning rate too high, or '
                            f'bf16 overflow?): stopping. '
                            f'{_last_good(last_path, last_saved)}')
                    scheduler.step()
                    bar.update(1)
                    continue
                bad_steps = 0
                optimizer.step()
                scheduler.step()
                value = float(loss.detach())
                epoch_losses.append(value)
                step_losses.append(value)
                seen += inputs.size(0) * world
                bar.update(1)
                bar.set_postfix(loss=f'{value:.5f}', refresh=False)
                if stop.requested or (cfg.save_every_steps and
                                      (step + 1) % cfg.save_every_steps == 0):
                    if is_main:
                        checkpoint(epoch, step + 1, last_path)
                    if stop.requested:
                        bar.close()
                        if is_main:
                            print(f'{stop.requested}: saved {last_path} at '
                                  f'epoch {epoch + 1} step {step + 1}; '
                                  f'continue with --resume', flush=True)
                        summary.update(stopped=stop.requested,
                                       step_losses=step_losses)
                        _finish(writer)
                        return summary
            bar.close()
            train_time = time.perf_counter() - t0
            bad = _non_finite_weight(model)
            if bad:  # finite steps can still overflow the weights
                raise NonFiniteLossError(
                    f'epoch {epoch + 1}: the weights became non-finite '
                    f'({bad!r} holds NaN or inf; learning rate too high, or '
                    f'bf16 overflow?): stopping. '
                    f'{_last_good(last_path, last_saved)}')
            start_step = 0

            row: Dict[str, Any] = {'epoch': epoch + 1}
            if is_main:
                row.update(train_loss=sum(epoch_losses) /
                           max(len(epoch_losses), 1))
                report = ''
                if val_set is not None:
                    results = evaluate_windows(
                        model, val_set, batch_size=cfg.eval_batch_size,
                        flip_test=cfg.flip_test, device=device)
                    mpjpe = results['average']['mpjpe']
                    row.update(val_mpjpe_mm=mpjpe,
                               val_p_mpjpe_mm=results['average']['p_mpjpe'])
                    report = (f', val MPJPE {mpjpe:.1f} mm, P-MPJPE '
                              f"{row['val_p_mpjpe_mm']:.1f} mm")
                    improved = mpjpe < best
                    best = min(best, mpjpe)
                else:  # no validation split: best.pt is the last epoch
                    improved = True
                row.update(lr=optimizer.param_groups[0]['lr'],
                           samples_per_s=seen / max(train_time, 1e-9))
                history.append(row)
                checkpoint(epoch + 1, 0, last_path)
                if improved:
                    checkpoint(epoch + 1, 0, best_path)
                _write_csv(out_dir / 'log.csv', history)
                if writer is not None:
                    for key, value in row.items():
                        if key != 'epoch':
                            writer.add_scalar(key, value, epoch + 1)
                mark = ' (best)' if improved and val_set is not None else ''
                print(f"epoch {epoch + 1}/{cfg.epochs}: loss "
                      f"{row['train_loss']:.5f}{report}, "
                      f"{row['samples_per_s']:.0f} samples/s{mark}",
                      flush=True)
            if world > 1:
                dist.barrier()
    _finish(writer)
    summary.update(best_mpjpe=best, history=history, step_losses=step_losses)
    if world > 1:
        dist.destroy_process_group()
    return summary


class NonFiniteLossError(RuntimeError):
    """Training diverged: too many consecutive non-finite steps, or weights
    that overflowed."""


def _last_good(last_path: Path, saved: Dict[str, int]) -> str:
    """What is on disk now, said truthfully (only finite states are ever
    saved, and a non-finite ``last.pt`` is refused when resumed)."""
    if saved:
        where = (f"epoch {saved['epoch'] + 1}, step {saved['step']}"
                 if saved['step'] else f"end of epoch {saved['epoch']}")
        return (f'The last good checkpoint, {last_path} ({where}), was not '
                f'touched.')
    return f'No checkpoint was written to {last_path} by this run.'


def _non_finite_weight(model: nn.Module) -> Optional[str]:
    """The name of the first parameter or buffer holding NaN or inf."""
    for name, value in list(model.named_parameters()) + \
            list(model.named_buffers()):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


#: keys of a checkpoint that ``--resume`` needs, with their types
_RESUME_KEYS = {'optimizer': dict, 'scheduler': dict,
                'rng_cpu': torch.Tensor, 'epoch': int, 'step_in_epoch': int,
                'best_mpjpe': (int, float), 'history': list,
                'step_losses': torch.Tensor}


def _check_resume_state(state: Dict[str, Any], path: Path, data_path: Path,
                        data_fingerprint: str) -> None:
    """Every key ``--resume`` reads, with its type, and the data it was
    trained on: a checkpoint is refused naming the key, never half-used."""
    for key, kind in _RESUME_KEYS.items():
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
    stats = state.get('epoch_stats', {})
    if not isinstance(stats, dict) or any(
            isinstance(stats.get(k, 0), bool) or
            not isinstance(stats.get(k, 0), (int, float)) or
            stats.get(k, 0) < 0
            for k in ('loss_count', 'samples', 'train_s', 'bad_steps')) or \
            stats.get('loss_count', 0) > len(state['step_losses']):
        raise CheckpointError(f"checkpoint {path} cannot be resumed: key "
                              f"'epoch_stats' is malformed: {stats!r}")
    saved = state.get('data_fingerprint')
    if saved is None:
        print(f'warning: {path} does not record which data it was trained '
              f'on (written before checkpoints did): cannot check that '
              f'--data {data_path} is the same', file=sys.stderr, flush=True)
    elif saved != data_fingerprint:
        raise CheckpointError(
            f"--resume: {path} was trained on other data "
            f"({state.get('data', '?')}, sha256 {str(saved)[:12]}...) than "
            f"--data {data_path} (sha256 {data_fingerprint[:12]}...); resume "
            f"with the same --data, or start a new run in another --out")


def _finite_step(loss: torch.Tensor, model: nn.Module) -> bool:
    """Whether the loss and every gradient are finite."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return bool(torch.isfinite(loss))
    norm = torch.nn.utils.get_total_norm(grads)
    return bool(torch.isfinite(loss) & torch.isfinite(norm))


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete what writes of this run's files left when a run was killed
    before their rename (the files themselves are always complete)."""
    for name in ('last.pt', 'best.pt', 'log.csv'):
        for stale in remove_stale_temporaries(out_dir / name):
            print(f'removed {stale.name}, left by an interrupted write of '
                  f'{name}', flush=True)


def _finish(writer) -> None:
    if writer is not None:
        writer.close()


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are a nicety, not a dependency
        enabled = False
    if not enabled:
        return _NoBar()
    return tqdm(total=total, desc=desc, leave=False, mininterval=2.0,
                dynamic_ncols=True)


class _NoBar:

    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    parser.add_argument('--preset', default='demo',
                        help="architecture preset: paper-t1, paper-t9, "
                        "paper-t27, paper-t81, paper-t243 or demo")
    parser.add_argument('--joints', type=int, choices=(16, 17), default=None,
                        help='17 (Human3.6M) or 16 (no neck/nose)')
    parser.add_argument('--variant', choices=('wj', 'gcn', 'mixer'),
                        default='wj', help='ablation variant (Table 3)')
    parser.add_argument('--authors-diagonal', action='store_true',
                        help="reproduce the authors' diagonal-only "
                        "neighbour term")
    parser.add_argument('--dropout', type=float, default=None,
                        help='dropout rate (default: the preset\'s, 0.2)')
    parser.add_argument('--data', type=Path, default=None,
                        help='prepared .npz (default: the built-in demo)')
    parser.add_argument('--out', type=Path, default=None,
                        help='output directory (default: runs/<preset>)')
    parser.add_argument('--epochs', type=int, default=None)
    parser.add_argument('--batch-size', type=int, default=None,
                        help=f'global batch size (default: {d.batch_size}; '
                        f'the demo: {DEMO_DEFAULTS["batch_size"]})')
    parser.add_argument('--lr', type=float, default=d.lr)
    parser.add_argument('--lr-epoch-min-steps', type=int,
                        default=d.lr_epoch_min_steps,
                        help='a learning-rate schedule epoch lasts one epoch '
                        'or this many optimizer steps, whichever is longer '
                        f'(default: {d.lr_epoch_min_steps}; 0: the paper\'s '
                        'per-epoch schedule on any data)')
    parser.add_argument('--val-fraction', type=float, default=None,
                        help='share of every training sequence (its end) '
                        'held out to choose best.pt (default: '
                        f'{DEMO_DEFAULTS["val_fraction"]} on the demo, else 0:'
                        ' best.pt is the last epoch, as the field reports '
                        'Human3.6M)')
    parser.add_argument('--lambda', dest='lam', type=float, default=d.lam)
    parser.add_argument('--seed', type=int, default=d.seed)
    parser.add_argument('--source', default=None,
                        help="2D source in the data file (default: 'noisy' "
                        "for the demo, else 'gt')")
    parser.add_argument('--stride', type=int, default=None,
                        help='use every k-th training window')
    parser.add_argument('--no-flip-augment', action='store_true')
    parser.add_argument('--no-flip-test', action='store_true')
    parser.add_argument('--bf16', action='store_true',
                        help='bfloat16 autocast')
    parser.add_argument('--resume', action='store_true',
                        help='continue from <out>/last.pt')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the run in a non-empty --out (its '
                        'checkpoints, log and TensorBoard scalars are '
                        'deleted first); without it or --resume a '
                        'non-empty --out is refused')
    parser.add_argument('--max-steps-per-epoch', type=int, default=0)
    parser.add_argument('--save-every-steps', type=int, default=0)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads per process (0: default)')
    parser.add_argument('--ddp-timeout', type=float, default=300.0,
                        help='seconds before a stuck DDP collective fails')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--no-evaluate', action='store_true',
                        help='skip the final evaluation and picture')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    overrides: Dict[str, Any] = {'variant': args.variant,
                                 'authors_diagonal': args.authors_diagonal}
    if args.joints is not None:
        overrides['joints'] = args.joints
    if args.dropout is not None:
        overrides['dropout'] = args.dropout
    model_cfg = preset_config(args.preset, **overrides)
    demo_data = args.data is None
    defaults = DEMO_DEFAULTS if demo_data else {}

    def given(value, key, fallback):  # 0 is a value, not "the default"
        return value if value is not None else defaults.get(key, fallback)

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), "
                         f"got {args.threads}")
    if not (math.isfinite(args.ddp_timeout) and args.ddp_timeout > 0):
        raise ValueError(f"--ddp-timeout must be a positive number of "
                         f"seconds, got {args.ddp_timeout}")
    if args.dropout is not None and not (math.isfinite(args.dropout) and
                                         0 <= args.dropout < 1):
        raise ValueError(f"--dropout must lie in [0, 1), got {args.dropout}")
    cfg = TrainConfig(
        epochs=given(args.epochs, 'epochs', TrainConfig.epochs),
        batch_size=given(args.batch_size, 'batch_size',
                         TrainConfig.batch_size),
        lr=args.lr, lam=args.lam, seed=args.seed,
        lr_epoch_min_steps=args.lr_epoch_min_steps,
        val_fraction=(args.val_fraction if args.val_fraction is not None
                      else defaults.get('val_fraction', 0.0)),
        source=args.source or defaults.get('source', 'gt'),
        stride=given(args.stride, 'stride', 1),
        test_stride=defaults.get('test_stride', 1),
        flip_augment=not args.no_flip_augment, flip_test=not args.no_flip_test,
        bf16=args.bf16, max_steps_per_epoch=args.max_steps_per_epoch,
        save_every_steps=args.save_every_steps)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.out or Path('runs') / args.preset
    is_main = int(os.environ.get('RANK', '0')) == 0
    if is_main:  # the lock covers the training and the final evaluation
        with RunDirectoryLock(out_dir, '--out'):
            return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)
    return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)


def _run(args, model_cfg, cfg, demo_data, out_dir, is_main):
    from models.pose.data.demo import ensure_demo

    data_path = ensure_demo() if demo_data else args.data
    start = time.perf_counter()
    summary = train(model_cfg, cfg, data_path, out_dir, resume=args.resume,
                    ddp_timeout_s=args.ddp_timeout,
                    progress=not args.no_progress, overwrite=args.overwrite)
    if is_main and not args.no_evaluate and 'stopped' not in summary:
        from models.pose.evaluate import evaluate_checkpoint
        evaluate_checkpoint(out_dir / 'best.pt', data_path, out_dir,
                            source=cfg.source, flip_test=cfg.flip_test,
                            pictures=True, val_fraction=cfg.val_fraction)
        print(f'Training and evaluation took '
              f'{time.perf_counter() - start:.0f} s; outputs in {out_dir}',
              flush=True)
    return summary

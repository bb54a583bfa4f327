"""The paper's optimizer and learning-rate schedule, made for a run and
restored from its checkpoint."""
from pathlib import Path
from typing import Any, Dict

import torch
from torch import nn

from models.pose.nn.checkpoint import CheckpointError
from models.pose.train.config import TrainConfig, lr_factor_at_step


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


def build_scheduler(optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """The paper's schedule as a function of the optimizer step; stepped
    after every step position, skipped ones included, so the lr is a
    function of progress."""
    def schedule(step: int) -> float:  # a function: LambdaLR saves no state
        return lr_factor_at_step(step, steps_per_epoch, cfg)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def restore_optimization(optimizer: torch.optim.Optimizer,
                         scheduler: torch.optim.lr_scheduler.LambdaLR,
                         state: Dict[str, Any], path: Path,
                         lr: float) -> None:
    """Load a checkpoint's optimizer and scheduler states (the
    scheduler's constructor reset the lr: the optimizer's is loaded after
    it). A new ``lr`` wins over the saved one, on the same schedule."""
    for key, target in (('optimizer', optimizer), ('scheduler', scheduler)):
        try:
            target.load_state_dict(state[key])
        except (ValueError, KeyError, TypeError, IndexError,
                RuntimeError) as err:
            raise CheckpointError(
                f"checkpoint {path}: key {key!r} does not fit this model "
                f"({type(err).__name__}: {err})") from None
    saved = state.get('train_config')
    if isinstance(saved, dict) and saved.get('lr', lr) != lr:
        # both state dicts carry the old lr: a new --lr (the usual cure
        # after a divergence) must win, on the same schedule
        schedule = scheduler.lr_lambdas[0]
        scheduler.base_lrs = [lr] * len(optimizer.param_groups)
        for group in optimizer.param_groups:
            group['lr'] = lr * schedule(scheduler.last_epoch)

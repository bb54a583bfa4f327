"""What a run is made of before its first step: the windows, the model, its
optimizer and scheduler and the run's :class:`TrainState`, new
(:func:`build_run`) or continued from ``last.pt`` (:func:`resume_run`)."""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict

import torch

from models.pose.nn.checkpoint import (
    checked_model_config,
    load_checkpoint,
    load_weights,
)
from models.pose.nn.config import ModelConfig
from models.pose.nn.model import MLPGraphWJ
from models.pose.train.config import TrainConfig
from models.pose.train.optimizer import (
    build_optimizer,
    build_scheduler,
    restore_optimization,
)
from models.pose.train.state import TrainState
from models.pose.train.windows import TrainingWindows, load_windows


@dataclass
class RunParts:
    """What one process trains with, and what a checkpoint saves."""
    windows: TrainingWindows
    state: TrainState
    model_cfg: ModelConfig
    model: MLPGraphWJ
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR

    def checkpoint(self) -> Dict[str, Any]:
        """The checkpoint of the run at its position."""
        return {'model': self.model.state_dict(),
                'model_config': self.model_cfg.to_dict(),
                'optimizer': self.optimizer.state_dict(),
                'scheduler': self.scheduler.state_dict(),
                **self.state.to_checkpoint()}


def build_run(model_cfg: ModelConfig, cfg: TrainConfig, data_path: Path,
              device: torch.device, world: int) -> RunParts:
    """A new run's parts (the model initialised from ``cfg.seed``) for one
    of ``world`` processes."""
    if cfg.batch_size % world:
        raise ValueError(f"--batch-size {cfg.batch_size} must be divisible "
                         f"by the number of processes ({world})")
    windows = load_windows(data_path, model_cfg, cfg)
    state = TrainState(asdict(cfg), str(data_path), windows.fingerprint,
                       data_fps=float(windows.data.meta['fps']))
    torch.manual_seed(cfg.seed)
    model = MLPGraphWJ(model_cfg).to(device)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, windows.steps_per_epoch, cfg)
    return RunParts(windows, state, model_cfg, model, optimizer, scheduler)


def resume_run(parts: RunParts, path: Path, cfg: TrainConfig,
               data_path: Path, device: torch.device) -> Dict[str, Any]:
    """Load the checkpoint at ``path`` into ``parts``: weights, optimizer,
    scheduler, RNG state and the run's state (every part checked before
    any is used). Returns the settings that changed since it was saved,
    as ``{name: saved value}``."""
    state = load_checkpoint(path, map_location=device)
    saved = TrainState.from_checkpoint(state, path)
    saved.check_data(data_path, parts.windows.fingerprint, path)
    checked_model_config(state, path, expected=parts.model_cfg)
    load_weights(parts.model, state, path)
    restore_optimization(parts.optimizer, parts.scheduler, state, path,
                         cfg.lr)
    saved.restore_rng(path)
    new = parts.state
    changed = saved.continue_as(new.train_config, new.data,
                                new.data_fingerprint, new.data_fps)
    parts.state = saved
    return changed

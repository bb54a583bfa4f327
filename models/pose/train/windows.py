"""The windows a run trains and validates on, cut from a prepared file."""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from models.pose.data.format import fingerprint, load_prepared
from models.pose.data.loader import PoseWindows
from models.pose.nn.config import ModelConfig
from models.pose.train.config import TrainConfig


@dataclass
class TrainingWindows:
    """The training split (the start of every training sequence) and the
    validation split (its last ``val_fraction``, or ``None``); the test
    subjects are never read."""
    data: Any  # the PreparedPoses they are cut from
    fingerprint: str  # of that data: a checkpoint records it
    train_set: Any
    val_set: Optional[Any]
    steps_per_epoch: int


def load_windows(data_path: Path, model_cfg: ModelConfig,
                 cfg: TrainConfig) -> TrainingWindows:

    data = load_prepared(data_path)
    common = dict(subjects=data.train_subjects, joints=model_cfg.joints,
                  frames=model_cfg.frames, source=cfg.source,
                  causal=model_cfg.causal)
    keep = 1.0 - cfg.val_fraction
    train_set = PoseWindows(data, stride=cfg.stride, portion=(0.0, keep),
                            **common)
    val_set = (PoseWindows(data, stride=cfg.test_stride,
                           portion=(keep, 1.0), **common)
               if cfg.val_fraction else None)
    steps = len(train_set) // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    return TrainingWindows(data, fingerprint(data), train_set, val_set, steps)


def check_batch_size(windows: TrainingWindows, cfg: TrainConfig,
                     data_path: Path) -> None:
    """An epoch must take a step: the last incomplete batch is dropped."""
    count = len(windows.train_set)
    if count < cfg.batch_size:
        raise ValueError(
            f"--batch-size {cfg.batch_size} is larger than the {count} "
            f"training windows of {data_path} (subjects "
            f"{', '.join(windows.data.train_subjects) or 'none'}, stride "
            f"{cfg.stride}, --val-fraction {cfg.val_fraction:g}): the last "
            f"incomplete batch is dropped, so an epoch would take no step; "
            f"use --batch-size {max(count, 1)} or less")

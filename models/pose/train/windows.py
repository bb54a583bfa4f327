"""The windows a run trains and validates on, cut from a prepared file."""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from models.pose.data.augment import GeometricAugment, noise_px_of
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
    augment: Optional[GeometricAugment] = None  # None: flips only


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
    return TrainingWindows(data, fingerprint(data), train_set, val_set,
                           steps, augmentation(cfg, data))


def augmentation(cfg: TrainConfig, data) -> Optional[GeometricAugment]:
    """The geometric augmentation ``cfg`` asks for (``None`` without
    ``augment``): the real cameras' ranges (GeometricAugment's defaults),
    bones scaled by ``1 +- augment_bone_scale``, and the detector noise of
    the source trained on, so a virtual view is as noisy as a real one."""
    if not cfg.augment:
        return None
    s = cfg.augment_bone_scale
    return GeometricAugment(bone_scale=(1.0 - s, 1.0 + s),
                            noise_px=noise_px_of(data, cfg.source))


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

"""Lifting a 2D keypoint sequence to 3D poses with a trained model.

Processing: pixels are normalised as ``x / w * 2 - [1, h / w]`` (the
training convention, :func:`models.pose.data.windows.normalize_keypoints`);
every frame gets the window of the model's ``T`` frames centred on it (a
causal model's: the ``T`` frames ending at it), the sequence's first and
last frames repeated to fill windows at its ends; the model runs in eval
mode, batched, under ``torch.no_grad``.

The batched forward pass
(:func:`models.pose.nn.predict.predict_root_relative`) is shared with the
evaluation (:func:`models.pose.evaluate.scoring.predict_windows`);
reading detectors' files is :mod:`models.pose.infer.formats`, the
command line :mod:`models.pose.cli.infer`.
"""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from models.pose.data.windows import (
    normalize_keypoints,
    target_window_indices,
)
from models.pose.nn.config import causal_of
from models.pose.nn.predict import predict_root_relative


def window_indices(num_frames: int, frames: int,
                   causal: bool = False) -> np.ndarray:
    """Frame indices of the window that predicts every frame, edge-padded.

    Row ``f`` lists ``f - T//2, ..., f + T - 1 - T//2`` (causal: ``f - T +
    1, ..., f``) with indices outside the sequence clamped to its first /
    last frame (repeating the edge frames, as the training windows were
    padded). For odd ``T`` (every model preset) frame ``f`` is exactly the
    centre (causal: the last).

    Args:
        num_frames: ``F`` >= 1.
        frames: window length ``T`` >= 1.
        causal: windows that end at their frame.

    Returns:
        ``[F, T]`` int64.
    """
    for name, value in (('num_frames', num_frames), ('frames', frames)):
        if isinstance(value, bool) or \
                not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"'{name}' must be an int >= 1, got {value!r}")
    return target_window_indices(np.arange(num_frames), frames, 0,
                                 num_frames - 1, causal).astype(np.int64)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device('cpu')


def infer_poses(model: nn.Module, keypoints_px: np.ndarray,
                image_size: Sequence[float], frames: int,
                batch_size: int = 256,
                causal: Optional[bool] = None) -> np.ndarray:
    """3D pose of every frame of a 2D keypoint sequence.

    The model runs in eval mode for the call, then returns to its previous
    mode (:func:`~models.pose.nn.predict.predict_root_relative`).

    Args:
        model: maps float32 ``[B, T, J, 2]`` normalised 2D windows to
            ``[B, J, 3]`` root-relative metres (the target frame's pose).
        keypoints_px: ``[F, J, 2]`` pixels, already in the model's joint
            order and count.
        image_size: ``(w, h)`` pixels.
        frames: the model's window length ``T``.
        batch_size: windows per forward pass; bounds memory, which grows
            with ``batch_size * T``.
        causal: whether the model predicts its window's last frame;
            default: what the model's ``config`` says (centred without
            one). Frame ``f``'s pose then reads no frame after ``f``.

    Returns:
        ``[F, J, 3]`` float32, metres, camera frame, root-relative.
    """
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[0] < 1:
        raise ValueError(f"'keypoints_px' must have shape [F, J, 2] with "
                         f"F >= 1, got {kp.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or batch_size < 1:
        raise ValueError(f"'batch_size' must be an int >= 1, got "
                         f"{batch_size!r}")
    num_frames = kp.shape[0]
    windows_of = torch.from_numpy(window_indices(
        num_frames, frames, causal_of(model, causal)))
    normalized = torch.from_numpy(normalize_keypoints(kp, image_size))
    batches = (normalized[windows_of[start:start + batch_size]]
               for start in range(0, num_frames, batch_size))
    poses = torch.cat(predict_root_relative(
        model, batches, _model_device(model))).numpy()
    bad = ~np.isfinite(poses).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"the model produced NaN/inf for {int(bad.sum())} "
                         f"of {num_frames} frames (first: frame "
                         f"{int(np.argmax(bad))}); is the checkpoint sound?")
    return poses

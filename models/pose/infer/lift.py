"""Lifting a 2D keypoint sequence to 3D poses with a trained model.

Processing: pixels are normalised as ``x / w * 2 - [1, h / w]`` (the
training convention); every frame gets the window of the model's ``T``
frames centred on it, the sequence's first and last frames repeated to
fill windows at its ends; the model runs in eval mode, batched, under
``torch.no_grad``.

The batched forward pass (:func:`predict_root_relative`) is shared with the
evaluation (:func:`models.pose.evaluate.scoring.predict_windows`);
reading keypoint files is :mod:`models.pose.infer.keypoints`, the command line
:mod:`models.pose.cli.infer`.
"""
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from models.pose.data.camera import normalize_screen
from models.pose.data.loader import centred_window_indices, flip_poses
from models.pose.infer.keypoints import check_image_size


def normalize_keypoints(keypoints_px: np.ndarray,
                        image_size: Sequence[float]) -> np.ndarray:
    """Pixels to the training range: ``x / w * 2 - [1, h / w]``.

    x spans [-1, 1] and y keeps the aspect ratio ([-h/w, h/w]), so one
    scale factor serves both axes and the pose's proportions survive.

    Args:
        keypoints_px: ``[..., J, 2]`` pixels.
        image_size: ``(w, h)`` pixels.

    Returns:
        ``[..., J, 2]`` float32.
    """
    w, h = check_image_size(image_size, 'image_size')
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 2:
        raise ValueError(f"'keypoints_px' must have shape [..., J, 2], got "
                         f"{kp.shape}")
    return normalize_screen(kp, w, h).astype(np.float32)


def window_indices(num_frames: int, frames: int) -> np.ndarray:
    """Frame indices of the window centred on every frame, edge-padded.

    Row ``f`` lists ``f - T//2, ..., f + T - 1 - T//2`` with indices outside
    the sequence clamped to its first / last frame (repeating the edge
    frames, as the training windows were padded). For odd ``T`` (every
    model preset) frame ``f`` is exactly the centre.

    Args:
        num_frames: ``F`` >= 1.
        frames: window length ``T`` >= 1.

    Returns:
        ``[F, T]`` int64.
    """
    for name, value in (('num_frames', num_frames), ('frames', frames)):
        if isinstance(value, bool) or \
                not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"'{name}' must be an int >= 1, got {value!r}")
    return centred_window_indices(np.arange(num_frames), frames, 0,
                                  num_frames - 1).astype(np.int64)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device('cpu')


@torch.no_grad()
def predict_root_relative(model: nn.Module, batches: Iterable,
                          device: torch.device,
                          flip_permutation: Optional[Sequence[int]] = None,
                          bf16: bool = False) -> List[torch.Tensor]:
    """The model's poses for batches of windows, root-relative.

    The model is switched to eval mode for the call (dropout off, BatchNorm
    on its running statistics) and back to its previous mode afterwards.

    Args:
        model: maps float32 ``[B, T, J, 2]`` normalized 2D windows to
            ``[B, J, 3]`` poses (the centre frame's).
        batches: ``[B, T, J, 2]`` arrays or tensors, moved to ``device``.
        device: where the model runs.
        flip_permutation: if given, every prediction is averaged with the
            un-flipped prediction of the horizontally flipped input (flip
            test-time augmentation, :func:`~models.pose.data.loader.flip_poses`
            with this left/right permutation).
        bf16: run under bfloat16 autocast.

    Returns:
        One float32 CPU tensor ``[B, J, 3]`` per batch, the root joint at
        exactly zero (the model's root output is near zero, not zero).
    """
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for batch in batches:
            batch = torch.as_tensor(batch, device=device)
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                pred = model(batch).float()
                _check_output(pred, batch)
                if flip_permutation is not None:
                    flipped = model(flip_poses(batch, flip_permutation))
                    pred = 0.5 * (pred + flip_poses(flipped.float(),
                                                    flip_permutation))
            outputs.append((pred - pred[:, :1]).cpu())
    finally:
        model.train(was_training)
    return outputs


def _check_output(pred: torch.Tensor, batch: torch.Tensor) -> None:
    expected = (batch.shape[0], batch.shape[2], 3)
    if tuple(pred.shape) != expected:
        raise ValueError(
            f"the model returned shape {tuple(pred.shape)} for input "
            f"{tuple(batch.shape)}; expected {expected}: does its "
            f"'frames'/'joints' config match?")


def infer_poses(model: nn.Module, keypoints_px: np.ndarray,
                image_size: Sequence[float], frames: int,
                batch_size: int = 256) -> np.ndarray:
    """3D pose of every frame of a 2D keypoint sequence.

    The model runs in eval mode for the call, then returns to its previous
    mode (:func:`predict_root_relative`).

    Args:
        model: maps float32 ``[B, T, J, 2]`` normalised 2D windows to
            ``[B, J, 3]`` root-relative metres (the centre frame's pose).
        keypoints_px: ``[F, J, 2]`` pixels, already in the model's joint
            order and count.
        image_size: ``(w, h)`` pixels.
        frames: the model's window length ``T``.
        batch_size: windows per forward pass; bounds memory, which grows
            with ``batch_size * T``.

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
    windows_of = torch.from_numpy(window_indices(num_frames, frames))
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

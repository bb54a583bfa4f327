"""The windowing codec every room shares: how 2D keypoints become the
model's input windows.

* :func:`normalize_keypoints`: pixels to the training range,
  ``x / w * 2 - [1, h / w]``;
* :func:`centred_window_indices`: the frames of the window of ``T`` frames
  centred on a frame, edge-padded (the sequence's first and last frames
  repeated); :func:`target_window_indices` also gives a causal model's
  window, the ``T`` frames ending at the frame (only past and present);
* :func:`flip_poses`: the horizontal flip of 2D or 3D poses (training
  augmentation and flip test-time averaging).

The training windows (:class:`models.pose.data.loader.PoseWindows`), the
offline inference (:mod:`models.pose.infer.lift`) and the live stream
(:mod:`models.pose.infer.streaming`) all use these, so a model sees the same
input whichever way it is fed.
"""
from typing import Any, Sequence, Tuple, Union

import numpy as np
import torch

from models.pose.data.camera import normalize_screen

ArrayLike = Union[np.ndarray, torch.Tensor]


def check_image_size(value: Any, source: str) -> Tuple[float, float]:
    """``(w, h)`` as two finite positive floats, or a ValueError naming
    ``source`` (where the value came from)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    has_bool = isinstance(value, (list, tuple)) and \
        any(isinstance(v, bool) for v in value)
    if arr is None or has_bool or arr.shape != (2,) \
            or not np.isfinite(arr).all() or (arr <= 0).any():
        shown = value.tolist() if isinstance(value, np.ndarray) else value
        raise ValueError(f"{source}: image size must be two positive "
                         f"numbers [w, h] in pixels, got {shown!r}")
    return float(arr[0]), float(arr[1])


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


def centred_window_indices(centres, frames: int, first, last) -> np.ndarray:
    """Frame indices of the windows of ``frames`` frames centred on
    ``centres``, edge-padded.

    Row ``i`` lists ``centres[i] - T//2, ..., centres[i] + T - 1 - T//2``,
    each clamped to ``[first, last]`` (the sequence's ends: clamping repeats
    the edge frames). ``first`` and ``last`` are scalars or one bound per
    centre; a scalar centre gives one row ``[T]``.

    Returns:
        ``[N, T]`` indices (``centres.shape + (T,)``).
    """
    return target_window_indices(centres, frames, first, last)


def target_position(frames: int, causal: bool = False) -> int:
    """Where a window's target frame sits in it: the centre ``T // 2``, or
    for a causal model the last position ``T - 1``."""
    return frames - 1 if causal else frames // 2


def target_window_indices(targets, frames: int, first, last,
                          causal: bool = False) -> np.ndarray:
    """Frame indices of the windows of ``frames`` frames that predict
    ``targets``, edge-padded like :func:`centred_window_indices`.

    Centred (the default), row ``i`` is ``targets[i] - T//2 .. targets[i] +
    T - 1 - T//2``; causal, it is ``targets[i] - T + 1 .. targets[i]``, so
    no frame after the target is read (what a live stream can give with no
    delay). Either way the indices are clamped to ``[first, last]``: a
    causal window at a sequence's start repeats its first frame.

    Returns:
        ``targets.shape + (T,)`` indices.
    """
    offsets = np.arange(frames) - target_position(frames, causal)
    return np.clip(np.asarray(targets)[..., None] + offsets,
                   np.asarray(first)[..., None], np.asarray(last)[..., None])


def flip_poses(poses: ArrayLike, flip_permutation: Sequence[int]
               ) -> ArrayLike:
    """Horizontal flip of ``[..., J, C]`` poses (2D or 3D): negate x and swap
    left and right joints. Applying it twice gives the input back."""
    perm = list(flip_permutation)
    out = poses[..., perm, :]
    if isinstance(out, torch.Tensor):
        out = out.clone()
    else:
        out = out.copy()
    out[..., 0] = -out[..., 0]
    return out

"""Frame rates: the lifting model sees its training rate, the output
keeps the input's frames.

The Human3.6M model (and the demo model) learned motion at 50 frames per
second (:data:`MODEL_FPS`); a window of ``T`` frames of 25 fps video spans
twice the time the model expects. :func:`resample_sequence` resamples a
track to the model's rate by linear interpolation in time, and
:func:`to_input_frames` brings the 3D poses back: one pose per input
frame, interpolated between the two model frames around it.

Times are ``frame / fps`` from the track's first frame. Model frames run
up to the last input frame's time (not beyond: nothing is extrapolated),
so input frames after the last model frame take its pose (a gap of less
than one model frame).
"""
from typing import Tuple

import numpy as np

MODEL_FPS = 50.0


def _check_fps(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not np.isfinite(value) or value <= 0:
        raise ValueError(f"'{name}' must be a positive number of frames per "
                         f"second, got {value!r}")
    return float(value)


def output_times(num_frames: int, fps_in: float, fps_out: float
                 ) -> np.ndarray:
    """Times (s) of the frames at ``fps_out`` covering ``num_frames``
    frames at ``fps_in`` (the first at 0, the last at or before the last
    input frame; the 1e-9 absorbs rounding such as 3 * (1/30) * 30)."""
    if isinstance(num_frames, bool) or not isinstance(
            num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f"'num_frames' must be an int >= 1, got "
                         f"{num_frames!r}")
    fps_in, fps_out = _check_fps(fps_in, 'fps_in'), \
        _check_fps(fps_out, 'fps_out')
    count = int(np.floor((num_frames - 1) * fps_out / fps_in + 1e-9)) + 1
    return np.arange(count) / fps_out


def interpolation(src_times: np.ndarray, dst_times: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, w)``: the value at ``dst_times[k]`` is ``(1 - w[k]) *
    v[i0[k]] + w[k] * v[i1[k]]``; times outside are clamped to the ends."""
    t = np.clip(dst_times, src_times[0], src_times[-1])
    i1 = np.clip(np.searchsorted(src_times, t, side='right'), 1,
                 max(len(src_times) - 1, 1))
    i0 = i1 - 1
    if len(src_times) == 1:
        return np.zeros_like(i0), np.zeros_like(i0), np.zeros(len(t))
    w = (t - src_times[i0]) / (src_times[i1] - src_times[i0])
    return i0, i1, w


def _blend(values: np.ndarray, i0, i1, w) -> np.ndarray:
    shape = (-1,) + (1,) * (values.ndim - 1)
    return (values[i0] * (1 - w).reshape(shape) +
            values[i1] * w.reshape(shape))


def resample_sequence(keypoints: np.ndarray, confidence: np.ndarray,
                      filled: np.ndarray, fps_in: float,
                      fps_out: float = MODEL_FPS):
    """``[F, J, 2]`` keypoints, ``[F, J]`` confidence and ``[F, J]`` flags
    at ``fps_in`` -> the same at ``fps_out``. A resampled joint's
    confidence is the min, and its flag the OR, of the input frames it is
    made from (those with a non-zero weight)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    src = np.arange(len(kp)) / _check_fps(fps_in, 'fps_in')
    i0, i1, w = interpolation(src, output_times(len(kp), fps_in, fps_out))
    # an exact hit (w == 0 or 1) takes only one input frame's flags
    j0 = np.where(w < 1 - 1e-9, i0, i1)
    j1 = np.where(w > 1e-9, i1, i0)
    conf = np.minimum(confidence[j0], confidence[j1])
    flags = np.asarray(filled)[j0] | np.asarray(filled)[j1]
    return _blend(kp, i0, i1, w), conf, flags


def to_input_frames(poses: np.ndarray, fps_model: float, fps_in: float,
                    num_frames: int) -> np.ndarray:
    """``[F', J, 3]`` poses at ``fps_model`` -> ``[num_frames, J, 3]`` at
    the input's frames ``0 .. num_frames - 1`` (``fps_in``)."""
    poses = np.asarray(poses)
    src = np.arange(len(poses)) / _check_fps(fps_model, 'fps_model')
    expected = len(output_times(num_frames, fps_in, fps_model))
    if len(poses) != expected:
        raise ValueError(f"'poses' has {len(poses)} frames; {num_frames} "
                         f"frames at {fps_in:g} fps make {expected} at "
                         f"{fps_model:g} fps")
    dst = np.arange(num_frames) / fps_in
    return _blend(poses, *interpolation(src, dst)).astype(poses.dtype)

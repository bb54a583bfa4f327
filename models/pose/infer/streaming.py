"""Frame-by-frame lifting of a live 2D keypoint stream (a webcam and a 2D
detector, say) with the model's temporal window.

Offline, :func:`models.pose.infer.lift.infer_poses` lifts frame ``f`` from the
window ``f - T//2 .. f + T//2``, edge-padded. A live stream does not know
the future: :class:`StreamingLifter` waits for ``lookahead`` frames after
``f`` and pads the rest of the window with the newest frame, as if the stream
ended there.

* ``lookahead = T // 2`` (the default) gives exactly the offline result,
  ``T // 2`` frames late (4 frames, 80 ms at 50 fps, for T = 9);
* ``lookahead = 0`` answers every frame at once, with the future half of the
  window padded (each output equals the offline result of the stream cut at
  that frame).

A causal model (trained with ``train --causal``: each window predicts its
last frame) needs no future at all: it streams with ``lookahead = 0`` and
gives exactly its offline result with no delay.

Each :meth:`StreamingLifter.push` runs one forward pass on a single window:
the model's batch-1 latency is the latency the application feels.
"""
from collections import deque
from typing import Deque, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from models.pose.data.windows import (
    normalize_keypoints,
    target_window_indices,
)
from models.pose.nn.config import causal_of


class StreamingLifter:
    """Lift one 2D pose per call, keeping the last frames of the stream.

    Args:
        model: maps float32 ``[1, T, J, 2]`` normalised windows to
            ``[1, J, 3]`` (an :class:`~models.pose.nn.model.MLPGraphWJ`, or
            anything with that contract). Used in eval mode.
        frames: the model's window length ``T`` (odd).
        image_size: ``(w, h)`` of the frames the keypoints come from.
        lookahead: future frames to wait for, ``0 .. T // 2`` (default
            ``T // 2``: the offline result, ``T // 2`` frames late); a
            causal model takes only 0, its default.
        causal: whether the model predicts its window's last frame;
            default: what the model's ``config`` says.
    """

    def __init__(self, model: nn.Module, frames: int,
                 image_size: Sequence[float],
                 lookahead: Optional[int] = None,
                 causal: Optional[bool] = None):
        if isinstance(frames, bool) or not isinstance(frames, int) or \
                frames < 1 or frames % 2 == 0:
            raise ValueError(f"'frames' must be a positive odd int, got "
                             f"{frames!r}")
        self.causal = causal_of(model, causal)
        # a causal window's past is all but its last frame
        half = frames - 1 if self.causal else frames // 2
        lookahead = _checked_lookahead(lookahead, frames, self.causal)
        self.model = model.eval()
        self.frames, self.half, self.lookahead = frames, half, lookahead
        self.image_size = tuple(image_size)
        # the last `half + 1 + lookahead` normalised frames: enough for the
        # past, the frame being answered and what it waits for
        self._buffer: Deque[np.ndarray] = deque(maxlen=half + 1 + lookahead)
        self._received = 0  # frames pushed so far
        self._answered = 0  # frames lifted so far
        self._joints: Optional[int] = None
        # the model's input, filled in place per frame: no allocation on
        # the way to the model, one source of tail latency fewer
        self._window: Optional[torch.Tensor] = None

    @property
    def delay_frames(self) -> int:
        """How many frames after its arrival a frame's pose comes out."""
        return self.lookahead

    def push(self, keypoints_px: np.ndarray) -> Optional[np.ndarray]:
        """Add frame ``[J, 2]`` (pixels); return the 3D pose ``[J, 3]``
        (metres, root-relative) of frame ``received - 1 - lookahead``, or
        ``None`` while the first frames are still being waited for."""
        kp = np.asarray(keypoints_px, dtype=np.float64)
        if kp.ndim != 2 or kp.shape[1] != 2:
            raise ValueError(f"'keypoints_px' must be one frame [J, 2], got "
                             f"shape {kp.shape}")
        if self._joints is None:
            self._joints = kp.shape[0]
        elif kp.shape[0] != self._joints:
            raise ValueError(f"'keypoints_px' has {kp.shape[0]} joints; the "
                             f"stream so far had {self._joints}")
        if not np.isfinite(kp).all():
            raise ValueError("'keypoints_px' holds NaN or inf")
        self._buffer.append(normalize_keypoints(kp, self.image_size))
        self._received += 1
        if self._received <= self.lookahead:
            return None
        return self._lift(self._received - 1 - self.lookahead)

    def flush(self) -> List[np.ndarray]:
        """At the end of the stream: the poses of the frames still waiting
        for their lookahead, padded with the last frame (as offline)."""
        out = []
        while self._answered < self._received:
            out.append(self._lift(self._answered))
        return out

    def _lift(self, frame: int) -> np.ndarray:
        """Pose of stream frame ``frame`` from the buffered frames."""
        newest = self._received - 1
        oldest = newest - len(self._buffer) + 1
        wanted = target_window_indices(frame, self.frames, 0, newest,
                                       self.causal)
        if self._window is None:
            self._window = torch.empty(1, self.frames, self._joints, 2)
        window = self._window.numpy()[0]
        # frames older than the buffer are only asked for at the stream's
        # start, where clipping to 0 keeps them inside it
        for slot, i in enumerate(wanted):
            window[slot] = self._buffer[i - oldest]
        with torch.inference_mode():
            pred = self.model(self._window)[0]
            pred = (pred - pred[:1]).float().cpu().numpy()
        self._answered = frame + 1
        return pred


def _checked_lookahead(lookahead: Optional[int], frames: int,
                       causal: bool) -> int:
    """``lookahead`` (default ``T // 2``, or 0 for a causal model) once it
    is an int the window allows."""
    most = 0 if causal else frames // 2
    lookahead = most if lookahead is None else lookahead
    if isinstance(lookahead, bool) or not isinstance(lookahead, int) \
            or not 0 <= lookahead <= most:
        why = (' (a causal model reads no frame after the one it lifts, '
               'so waiting would only add delay)' if causal else '')
        raise ValueError(f"'lookahead' must be an int in [0, {most}] "
                         f"for a {frames}-frame "
                         f"{'causal ' if causal else ''}window, got "
                         f"{lookahead!r}{why}")
    return lookahead

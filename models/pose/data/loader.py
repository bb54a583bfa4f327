"""Sliding windows of 2D keypoints and their target frame's 3D pose (the
window's centre frame, or its last for a causal model).

Everything heavy happens once, at construction: world -> camera, root-
relative targets and screen normalization for every (sequence, camera).
A batch is then one fancy-indexing gather: the window's frame indices are
``centre + [-T//2 .. T//2]`` (causal: ``target + [-T+1 .. 0]``) clipped to
the sequence, which is exactly edge padding at sequence ends. No
per-sample Python loop runs in the hot path.
"""
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
import torch

from models.pose.data.augment import (
    GeometricAugment,
    augment_batch,
    view_sources,
)
from models.pose.data.camera import normalize_screen, world_to_camera
from models.pose.data.format import PreparedPoses
from models.pose.data.skeleton import Skeleton, get_skeleton, select_joints
from models.pose.data.windows import (
    flip_poses,
    target_position,
    target_window_indices,
)


def _check_window_arguments(data: PreparedPoses, frames: int, stride: int,
                            portion: Tuple[float, float],
                            source: str) -> None:
    if frames < 1 or frames % 2 == 0:
        raise ValueError(f"'frames' must be a positive odd number, got "
                         f"{frames}")
    if stride < 1:
        raise ValueError(f"'stride' must be >= 1, got {stride}")
    begin, end = portion
    if not 0.0 <= begin < end <= 1.0:
        raise ValueError(f"'portion' must be (begin, end) with 0 <= begin "
                         f"< end <= 1, got {portion}")
    if source not in data.keypoints_2d:
        raise ValueError(f"2D source {source!r} is not in the data; "
                         f"available: {sorted(data.keypoints_2d)}")


def _chosen_sequences(data: PreparedPoses,
                      subjects: Optional[Sequence[str]]) -> List[int]:
    """Indices of the sequences of ``subjects`` (all when ``None``)."""
    chosen = [i for i, s in enumerate(data.sequences)
              if subjects is None or s['subject'] in subjects]
    if not chosen:
        have = sorted({s['subject'] for s in data.sequences})
        raise ValueError(f"no sequence of subjects {list(subjects)} in "
                         f"the data (subjects present: {have})")
    return chosen


class _CameraView(NamedTuple):
    """The frames of one sequence's portion seen by one camera."""
    inputs: np.ndarray  # [n, J, 2] normalized screen coordinates
    targets: np.ndarray  # [n, J, 3] root-relative camera frame, metres
    sequence: Dict[str, Any]
    world_start: int  # row of the first frame in ``positions_3d``
    camera: Tuple[int, int]  # (sequence, camera) indices


def _camera_views(data: PreparedPoses, chosen: List[int],
                  keypoints: np.ndarray, joints: int,
                  portion: Tuple[float, float]) -> List[_CameraView]:
    """Network inputs and targets of every (sequence portion, camera), in
    storage order, cameras innermost."""
    begin, end = portion
    views = []
    for i in chosen:
        seq = data.sequences[i]
        start, length = int(seq['start']), int(seq['length'])
        first = int(round(begin * length))
        start, length = start + first, int(round(end * length)) - first
        if length < 1:
            continue
        world = data.positions_3d[start:start + length].astype(np.float64)
        for c in range(data.num_cameras):
            cam = world_to_camera(world, data.camera_R[i, c],
                                  data.camera_t[i, c])
            cam = cam - cam[:, :1]  # root-relative, root at zero
            w, h = data.camera_resolution[i, c]
            kp = normalize_screen(
                keypoints[c, start:start + length].astype(np.float64),
                float(w), float(h))
            views.append(_CameraView(
                inputs=select_joints(kp, joints).astype(np.float32),
                targets=select_joints(cam, joints).astype(np.float32),
                sequence=seq, world_start=start, camera=(i, c)))
    return views


def _window_layout(views: List[_CameraView], stride: int
                   ) -> Tuple[np.ndarray, ...]:
    """Where the windows of the concatenated views lie: ``(centre, lo, hi,
    actions, subjects)``, one entry per window; a window's frames are
    clipped to ``[lo, hi]``, its view's frames."""
    centres, lo, hi, actions, subjects = [], [], [], [], []
    offset = 0
    for view in views:
        length = len(view.inputs)
        centre = np.arange(0, length, stride) + offset
        centres.append(centre)
        lo.append(np.full_like(centre, offset))
        hi.append(np.full_like(centre, offset + length - 1))
        actions.append(np.full(len(centre), view.sequence['action'],
                               dtype=object))
        subjects.append(np.full(len(centre), view.sequence['subject'],
                                dtype=object))
        offset += length
    return tuple(np.concatenate(parts)
                 for parts in (centres, lo, hi, actions, subjects))


class PoseWindows:
    """All windows of ``frames`` frames of the chosen subjects and source.

    Args:
        data: a loaded prepared file.
        joints: 17, or 16 (neck/nose dropped).
        frames: window length ``T`` (odd); the target is the centre frame.
        causal: the target is the window's last frame instead (the window
            holds the ``T - 1`` frames before it, edge-padded at sequence
            starts): the windows of a causal model.
        source: which 2D keypoints to use (``data.keypoints_2d`` key).
        subjects: subjects to include (default: all).
        stride: keep every ``stride``-th centre frame (subsampling).
        portion: ``(begin, end)`` fractions of every sequence to use, e.g.
            ``(0.0, 0.9)`` for the first 90 % and ``(0.9, 1.0)`` for the
            rest. Windows never reach outside their portion (they are
            edge-padded at its ends), so two complementary portions share
            no frame: this is how a validation split is cut from the
            training sequences.
    """

    def __init__(self, data: PreparedPoses, joints: int = 17,
                 frames: int = 1, source: str = 'gt',
                 subjects: Optional[Sequence[str]] = None, stride: int = 1,
                 portion: Tuple[float, float] = (0.0, 1.0),
                 causal: bool = False):
        _check_window_arguments(data, frames, stride, portion, source)
        self.skeleton: Skeleton = get_skeleton(joints)
        self.num_joints = joints
        self.frames, self.causal = frames, bool(causal)
        #: the target frame's position in a window
        self.target_index = target_position(frames, self.causal)
        views = _camera_views(data, _chosen_sequences(data, subjects),
                              data.keypoints_2d[source], joints, portion)
        if not views:
            raise ValueError(f"the portion {portion} of the sequences of "
                             f"subjects {list(subjects or [])} holds no frame")
        self._inputs = np.concatenate([view.inputs for view in views])
        self._targets = np.concatenate([view.targets for view in views])
        (self._centre, self._lo, self._hi, self.actions,
         self.subjects) = _window_layout(views, stride)
        # where each frame came from, to film it again (augment.py)
        self.view_sources = view_sources(data, views)

    def __len__(self) -> int:
        return len(self._centre)

    def window_indices(self, indices: np.ndarray) -> np.ndarray:
        """``[B, T]`` frame indices of the windows, edge-padded."""
        return target_window_indices(self._centre[indices], self.frames,
                                     self._lo[indices], self._hi[indices],
                                     self.causal)

    def get_batch(self, indices) -> Tuple[np.ndarray, np.ndarray]:
        """``(inputs [B, T, J, 2], targets [B, J, 3])`` as float32 arrays."""
        indices = np.asarray(indices, dtype=np.int64)
        return (self._inputs[self.window_indices(indices)],
                self._targets[self._centre[indices]])

    def centre_frames(self, indices) -> Tuple[np.ndarray, np.ndarray]:
        """``(inputs [B, J, 2], targets [B, J, 3])`` of the windows' target
        frames only (what a single-frame baseline sees)."""
        indices = np.asarray(indices, dtype=np.int64)
        centre = self._centre[indices]
        return self._inputs[centre], self._targets[centre]

    def iterate_batches(self, batch_size: int, shuffle: bool = True,
                        seed: int = 0, epoch: int = 0,
                        flip_augment: bool = False, rank: int = 0,
                        world_size: int = 1, drop_last: bool = False,
                        augment: Optional[GeometricAugment] = None
                        ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Batches as tensors; order and flips depend only on
        ``(seed, epoch)``, so a resumed run sees the same batches.

        With ``world_size > 1`` every process draws the same global batch
        and keeps rows ``rank::world_size`` of it: DDP on ``world_size``
        processes then sees exactly the samples one process would.

        ``augment`` replaces a share of the windows by geometric
        augmentations (:mod:`models.pose.data.augment`), drawn from
        ``(seed, epoch, batch)`` and before any flip.
        """
        rng = np.random.default_rng([seed, epoch])
        n = len(self)
        order = rng.permutation(n) if shuffle else np.arange(n)
        flips = rng.random(n) < 0.5 if flip_augment else None
        stop = n - n % batch_size if drop_last else n
        perm = self.skeleton.flip_permutation
        for begin in range(0, stop, batch_size):
            sel = order[begin:begin + batch_size][rank::world_size]
            inputs, targets = self.get_batch(sel)
            if augment is not None:
                augment_batch(augment, self, order[begin:begin + batch_size],
                              slice(rank, None, world_size),
                              (inputs, targets),
                              np.random.default_rng([seed, epoch, begin]))
            if flips is not None:
                f = flips[begin:begin + batch_size][rank::world_size]
                inputs[f] = flip_poses(inputs[f], perm)
                targets[f] = flip_poses(targets[f], perm)
            yield torch.from_numpy(inputs), torch.from_numpy(targets)

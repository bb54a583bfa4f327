"""Simple 2D -> 3D baselines, fitted on the training split of a data set.

Every evaluation reports the model beside two predictors that need no
training run, so a reader sees at once what the network adds:

* :class:`MeanPose`: the mean root-relative 3D pose of the training windows,
  whatever the input. Its error is the spread of the poses themselves.
* :class:`LinearLift`: a ridge regression from the centre frame's
  root-relative 2D pose (``2J`` numbers plus a constant) to its
  root-relative 3D pose (``3J`` numbers). It is fitted on the training
  windows and their horizontal flips (the model trains with flips too).
* :class:`NearestNeighbour`: the 3D pose of the training window whose
  centre frame's root-relative 2D pose (the linear map's features) is the
  nearest in Euclidean distance, by exact search over up to
  :data:`MAX_NEIGHBOUR_WINDOWS` evenly spaced training windows. It shows
  how far looking a pose up gets, without any generalisation.

All three predict root-relative poses with the root at zero, in metres.
"""
from typing import Dict, Tuple

import numpy as np

from models.pose.data.loader import PoseWindows
from models.pose.data.windows import flip_poses

#: At most this many training windows are used for a fit (evenly spaced);
#: a linear map of 34 inputs does not need Human3.6M's 1.5 M.
MAX_FIT_WINDOWS = 200_000
#: The nearest neighbour searches at most this many training windows
#: (evenly spaced): every query is compared with each of them, so the cost
#: grows with the product; 50 000 keep Human3.6M's 2.2 M test windows at
#: about 4e12 multiply-adds.
MAX_NEIGHBOUR_WINDOWS = 50_000
#: Bytes of squared distances held at once while searching: queries are
#: taken in chunks of ``NEIGHBOUR_CHUNK_BYTES // (8 * database size)``.
NEIGHBOUR_CHUNK_BYTES = 64 * 2 ** 20


def _centre_frames(windows: PoseWindows, limit: int = MAX_FIT_WINDOWS
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """``(inputs [n, J, 2], targets [n, J, 3])`` of the centre frames of up
    to ``limit`` evenly spaced windows."""
    n = len(windows)
    idx = np.arange(n) if n <= limit else np.linspace(
        0, n - 1, limit).round().astype(np.int64)
    return windows.centre_frames(idx)


def _features(inputs_2d: np.ndarray) -> np.ndarray:
    """Root-relative 2D pose of the non-root joints, flattened, with a
    constant column."""
    rel = inputs_2d[..., 1:, :] - inputs_2d[..., :1, :]
    flat = rel.reshape(len(rel), -1).astype(np.float64)
    return np.concatenate([flat, np.ones((len(flat), 1))], axis=1)


class MeanPose:
    """Predicts the training set's mean root-relative 3D pose."""

    name = 'mean pose'

    def __init__(self, mean_pose: np.ndarray):
        self.mean_pose = np.asarray(mean_pose, dtype=np.float32)

    @classmethod
    def fit(cls, windows: PoseWindows) -> 'MeanPose':
        _, targets = _centre_frames(windows)
        return cls(targets.astype(np.float64).mean(axis=0))

    def predict(self, inputs_2d: np.ndarray) -> np.ndarray:
        """``[n, J, 2]`` (ignored but for its length) -> ``[n, J, 3]``."""
        return np.broadcast_to(self.mean_pose,
                               (len(inputs_2d), *self.mean_pose.shape)).copy()


class LinearLift:
    """Ridge regression from one root-relative 2D frame to 3D.

    Args:
        weights: ``[2(J - 1) + 1, 3J]`` (the last row is the constant term).
    """

    name = 'linear 2D->3D'

    def __init__(self, weights: np.ndarray, num_joints: int):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.num_joints = num_joints

    @classmethod
    def fit(cls, windows: PoseWindows, ridge: float = 1e-4,
            flip_augment: bool = True) -> 'LinearLift':
        """Least squares with ``ridge`` times the mean feature energy added
        to the diagonal (the constant column is not penalised)."""
        inputs, targets = _centre_frames(windows)
        if flip_augment:
            perm = windows.skeleton.flip_permutation
            inputs = np.concatenate([inputs, flip_poses(inputs, perm)])
            targets = np.concatenate([targets, flip_poses(targets, perm)])
        x = _features(inputs)
        y = targets.reshape(len(targets), -1).astype(np.float64)
        # ridge as extra rows sqrt(penalty) * I (not on the constant), so
        # lstsq also copes with rank-deficient inputs when ridge is 0
        d = x.shape[1] - 1
        penalty = ridge * float((x[:, :d] ** 2).sum()) / max(d, 1)
        rows = np.zeros((d, d + 1))
        rows[:, :d] = np.sqrt(penalty) * np.eye(d)
        weights, *_ = np.linalg.lstsq(np.concatenate([x, rows]),
                                      np.concatenate([y, np.zeros((d, len(
                                          y[0])))]), rcond=None)
        return cls(weights, windows.num_joints)

    def predict(self, inputs_2d: np.ndarray) -> np.ndarray:
        """``[n, J, 2]`` normalised screen coordinates -> ``[n, J, 3]``."""
        out = (_features(inputs_2d) @ self.weights).reshape(
            len(inputs_2d), self.num_joints, 3)
        out -= out[:, :1]  # root at zero, as the targets
        return out.astype(np.float32)


class NearestNeighbour:
    """The training pose whose 2D centre frame is the nearest (1-NN).

    Args:
        database_2d: ``[n, 2(J - 1)]`` root-relative 2D features.
        poses_3d: ``[n, J, 3]`` their root-relative 3D poses.
    """

    name = 'nearest neighbour'

    def __init__(self, database_2d: np.ndarray, poses_3d: np.ndarray):
        self.database = np.asarray(database_2d, dtype=np.float64)
        self.poses = np.asarray(poses_3d, dtype=np.float32)
        if len(self.database) != len(self.poses) or not len(self.poses):
            raise ValueError(
                f"'database_2d' and 'poses_3d' must hold the same, non-zero "
                f"number of rows, got {len(self.database)} and "
                f"{len(self.poses)}")
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2; |b|^2 is the same every query
        self._norms = (self.database ** 2).sum(axis=1)

    @classmethod
    def fit(cls, windows: PoseWindows, limit: int = MAX_NEIGHBOUR_WINDOWS
            ) -> 'NearestNeighbour':
        inputs, targets = _centre_frames(windows, limit)
        return cls(_features(inputs)[:, :-1], targets)

    def neighbours(self, inputs_2d: np.ndarray,
                   chunk_bytes: int = NEIGHBOUR_CHUNK_BYTES) -> np.ndarray:
        """Index in the database of each input's nearest neighbour (the
        first one on a tie), ``chunk_bytes`` of distances at a time."""
        queries = _features(inputs_2d)[:, :-1]
        rows = max(1, chunk_bytes // (8 * len(self.database)))
        out = np.empty(len(queries), dtype=np.int64)
        for begin in range(0, len(queries), rows):
            # |b|^2 - 2 q.b: |q|^2 is constant along a row, it cannot
            # change the argmin (in place: no second chunk-sized array)
            dist = queries[begin:begin + rows] @ self.database.T
            dist *= -2.0
            dist += self._norms
            out[begin:begin + rows] = dist.argmin(axis=1)
        return out

    def predict(self, inputs_2d: np.ndarray,
                chunk_bytes: int = NEIGHBOUR_CHUNK_BYTES) -> np.ndarray:
        """``[n, J, 2]`` normalised screen coordinates -> ``[n, J, 3]``."""
        return self.poses[self.neighbours(inputs_2d, chunk_bytes)].copy()


def fit_baselines(train_windows: PoseWindows) -> Dict[str, object]:
    """The baselines fitted on ``train_windows``, by their display name."""
    return {MeanPose.name: MeanPose.fit(train_windows),
            LinearLift.name: LinearLift.fit(train_windows),
            NearestNeighbour.name: NearestNeighbour.fit(train_windows)}

"""Writers of lifted 3D poses; the format follows the output's suffix.

* ``.npz``: ``poses_3d`` ``[F, J, 3]`` float32 metres (camera frame: x
  right, y down, z forward; root-relative), ``keypoints_2d`` ``[F, J, 2]``
  pixels, ``image_size``, ``joint_names``, and now ``confidence`` ``[F,
  J]``, ``filled`` and ``long_gap`` ``[F, J]`` bool, ``frames`` (input
  frame indices), ``fps``, ``parents``;
* ``.json``: the same with units and the coordinate frame spelled out;
* ``.csv``: one row per frame and joint, units in the column names;
* ``.bvh``: a motion-capture skeleton (:mod:`.bvh`).

Every file is written atomically (:mod:`models.common.files`).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

COORDINATES = ('camera frame: x right, y down, z forward (depth); '
               'root-relative: the pelvis (joint 0) at the origin')


@dataclass(frozen=True)
class PoseSequence:
    """What a writer needs: the poses and what they came from."""
    poses_3d: np.ndarray  # [F, J, 3] metres
    joint_names: Tuple[str, ...]
    parents: Tuple[int, ...]
    keypoints_2d: Optional[np.ndarray] = None  # [F, J, 2] pixels
    confidence: Optional[np.ndarray] = None  # [F, J]
    filled: Optional[np.ndarray] = None  # [F, J] bool
    long_gap: Optional[np.ndarray] = None  # [F, J] bool
    frames: Optional[np.ndarray] = None  # [F] input frame indices
    fps: Optional[float] = None
    image_size: Optional[Tuple[float, float]] = None

    def __post_init__(self):
        poses = np.asarray(self.poses_3d)
        joints = len(self.joint_names)
        if poses.ndim != 3 or poses.shape[1:] != (joints, 3) or \
                not len(poses) or len(self.parents) != joints:
            raise ValueError(f"'poses_3d' must be [F >= 1, {joints}, 3] "
                             f"with {joints} parents, got "
                             f"{list(poses.shape)} and {len(self.parents)}")
        if not np.isfinite(poses).all():
            raise ValueError("'poses_3d' holds NaN or inf; expected finite "
                             "metres")
        for name in ('keypoints_2d', 'confidence', 'filled', 'long_gap'):
            value = getattr(self, name)
            if value is not None and np.shape(value)[:2] != poses.shape[:2]:
                raise ValueError(f"'{name}' has shape {np.shape(value)}; "
                                 f"expected it to start with "
                                 f"{list(poses.shape[:2])}")

    @property
    def frame_indices(self) -> np.ndarray:
        return np.arange(len(self.poses_3d)) if self.frames is None \
            else np.asarray(self.frames)


def _writers() -> Dict[str, Callable[[Path, PoseSequence], Path]]:
    from models.pose.infer.writers import bvh, tables
    return {'.npz': tables.write_npz, '.json': tables.write_json,
            '.csv': tables.write_csv, '.bvh': bvh.write_bvh}


SUFFIXES: Sequence[str] = ('.npz', '.json', '.csv', '.bvh')


def check_output(path: Any) -> Path:
    """``path`` if its suffix names a writer, else a ValueError (call
    before any work so that a bad ``--output`` costs nothing)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--output {path}: suffix "
                         f"{path.suffix or '(none)'}; expected one of "
                         f"{', '.join(SUFFIXES)}")
    return path


def write_poses(path: Any, sequence: PoseSequence) -> Path:
    """Write ``sequence`` in the format of ``path``'s suffix."""
    path = check_output(path)
    return _writers()[path.suffix.lower()](path, sequence)

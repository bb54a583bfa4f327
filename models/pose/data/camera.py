"""Human3.6M cameras: calibration loading, world <-> camera, projection.

Conventions (those of the VideoPose3D data files): world coordinates are
z-up metres; a camera's ``orientation`` quaternion rotates camera -> world
and its ``translation`` is the camera centre in world coordinates. In the
camera frame x points right, y down and z forward (depth).
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

#: The public Human3.6M calibration, shipped with the project (4 cameras,
#: intrinsics shared by all subjects, extrinsics per subject; the layout is
#: described in ``docs/data_formats.rst``). ``--cameras`` or
#: ``PYG_WJ_H36M_CAMERAS`` point elsewhere.
DEFAULT_CAMERAS = Path(__file__).resolve().parent / 'calibration' / \
    'h36m_cameras.json'


@dataclass
class Camera:
    """One calibrated camera; ``R`` rotates world -> camera, ``t`` is the
    camera centre in world metres."""
    id: str
    R: np.ndarray  # [3, 3]
    t: np.ndarray  # [3]
    intrinsics: np.ndarray  # [9]: fx, fy, cx, cy, k1, k2, k3, p1, p2
    resolution: np.ndarray  # [2]: w, h


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` of quaternions ``[..., 4]`` in the
    order ``(w, x, y, z)`` (scalar first), normalized to unit length."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True),
                             -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z),
                  2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z),
                  2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x),
                  1 - 2 * (x * x + y * y)], -1)], -2)


def cameras_path() -> Path:
    """``$PYG_WJ_H36M_CAMERAS`` if set, else the shipped calibration."""
    env = os.environ.get('PYG_WJ_H36M_CAMERAS')
    return Path(env) if env else DEFAULT_CAMERAS


def load_h36m_cameras(path: Optional[Path] = None) -> Dict[str, List[Camera]]:
    """Subject -> its 4 cameras in the file's ``camera_order``."""
    path = Path(path) if path else cameras_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"camera calibration {path} not found (set PYG_WJ_H36M_CAMERAS "
            f"to the h36m_cameras.json file)")
    try:
        spec = json.loads(path.read_text())
        intrinsics = spec['intrinsics']
        out: Dict[str, List[Camera]] = {}
        for subject, extrinsics in spec['extrinsics'].items():
            if not all(extrinsics):  # S2-S4 have no public calibration
                continue
            cams = []
            for intr, extr in zip(intrinsics, extrinsics):
                k = np.array([*intr['focal_length'], *intr['center'],
                              *intr['radial_distortion'],
                              *intr['tangential_distortion']])
                cams.append(Camera(
                    id=str(intr['id']),
                    R=quaternion_to_matrix(extr['orientation']).T,
                    t=np.asarray(extr['translation'], float) / 1000.0,
                    intrinsics=k,
                    resolution=np.array([intr['res_w'], intr['res_h']])))
            out[subject] = cams
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a Human3.6M camera file of the "
                         f"expected layout: {err!r}") from None
    return out


def world_to_camera(points: np.ndarray, R: np.ndarray,
                    t: np.ndarray) -> np.ndarray:
    """``[..., 3]`` world points into the camera frame."""
    return (points - t) @ R.T


def camera_to_world(points: np.ndarray, R: np.ndarray,
                    t: np.ndarray) -> np.ndarray:
    return points @ R + t


def project_to_pixels(points_cam: np.ndarray,
                      intrinsics: np.ndarray) -> np.ndarray:
    """Pinhole projection with radial (k1-k3) and tangential (p1, p2)
    distortion, ``[..., 3]`` camera-frame points to ``[..., 2]`` pixels.

    ``intrinsics`` is ``[9]``, or ``[..., 9]`` broadcasting against the
    points' leading axes (one camera per row of points)."""
    intrinsics = np.asarray(intrinsics)
    f, c = intrinsics[..., 0:2], intrinsics[..., 2:4]
    k, p = intrinsics[..., 4:7], intrinsics[..., 7:9]
    xy = points_cam[..., :2] / points_cam[..., 2:3]
    r2 = np.sum(xy ** 2, axis=-1, keepdims=True)
    # Horner's form: r2 ** 3 would go through pow(), 10x a multiply
    radial = 1 + r2 * (k[..., 0:1] + r2 * (k[..., 1:2] + r2 * k[..., 2:3]))
    tangential = np.sum(p * xy, axis=-1, keepdims=True)
    distorted = xy * (radial + tangential) + p * r2
    return f * distorted + c


def normalize_screen(pixels: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixels to the field's normalized coordinates: x maps to [-1, 1] and
    y keeps the aspect ratio (``x / w * 2 - [1, h / w]``)."""
    return pixels / w * 2 - np.array([1.0, h / w], dtype=pixels.dtype)


def unnormalize_screen(coords: np.ndarray, w: float, h: float) -> np.ndarray:
    return (coords + np.array([1.0, h / w], dtype=coords.dtype)) * w / 2

"""Geometric augmentation: training windows seen by virtual cameras, with
rescaled bones.

A chosen window's world 3D pose (every frame of it) is

1. **re-proportioned** (``bone_scale``): each bone of the 17-joint
   skeleton is scaled by its own random factor, the same for the left and
   the right bone of a pair and for every frame of the window, and the
   joints are rebuilt from the root down the kinematic tree
   (:data:`~models.pose.data.skeleton.PARENTS_17`), so the motion (the bone
   directions) is kept and only the proportions change;
2. **filmed by a virtual camera** (``virtual_cameras``): a static camera
   that looks horizontally at the window's centre-frame root from a random
   direction, tilted down and rolled. It is the same as turning the body
   about the vertical axis through its centre-frame root in front of a
   camera. Its ranges are those of the 4 real cameras of the shipped
   Human3.6M calibration (``calibration/h36m_cameras.json``, 7 subjects,
   28 camera poses), rounded inwards:

   ===================  ================  ==================================
   parameter            range             real cameras
   ===================  ================  ==================================
   yaw about the root   -180 to 180 deg   all around (the subjects turn)
   horizontal distance  4.2 to 5.6 m      4.13 to 5.61 m from the centre
   height above floor   1.47 to 1.63 m    1.46 to 1.63 m
   downward tilt        10.6 to 16.0 deg  10.5 to 16.0 deg
   roll (optical axis)  -4.0 to 5.4 deg   -4.02 to 5.45 deg
   fx                   1145.1 to 1149.6  1145.0 to 1149.7 px
                        px
   fy                   1143.8 to 1148.7  1143.8 to 1148.8 px
                        px
   cx                   509 to 519 px     508.8 to 519.8 px
   cy                   502 to 515 px     501.4 to 515.5 px
   ===================  ================  ==================================

   The distortion coefficients and the image size are those of one of
   the 4 real cameras, drawn per window; projection is
   :func:`~models.pose.data.camera.project_to_pixels` (distortion
   included), then the ``noisy`` source's detector noise
   (:func:`~models.pose.data.demo.detector_noise`, ``noise_px``), then the
   loader's screen normalisation with the virtual image size. A window
   whose motion would come nearer the camera than :data:`MIN_DEPTH` is
   moved back along the optical axis until it does not.

With ``virtual_cameras`` off, re-proportioned windows are filmed by their
own (real) camera. The augmentation needs a z-up world with the floor at
zero (Human3.6M, the demo set); data stored in the camera frame
(MPI-INF-3DHP: every ``R = I``, ``t = 0``) are refused.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, List, NamedTuple, Optional, Tuple

import numpy as np

from models.pose.data.camera import (
    DEFAULT_CAMERAS,
    load_h36m_cameras,
    project_to_pixels,
)
from models.pose.data.demo import detector_noise
from models.pose.data.skeleton import (
    LEFT_17,
    PARENTS_17,
    RIGHT_17,
    select_joints,
)

Range = Tuple[float, float]
#: Nearest a joint of an augmented window may come to the camera (metres).
MIN_DEPTH = 1.0
#: Frames augmented at a time (windows of ``T`` frames: ``CHUNK_FRAMES //
#: T`` windows, at least one).
CHUNK_FRAMES = 1024


@dataclass(frozen=True)
class GeometricAugment:
    """What to augment, and the ranges to draw from (the defaults are the
    real cameras' ranges of the module docstring).

    Args:
        virtual_cameras: film chosen windows with virtual cameras.
        bone_scale: ``(low, high)`` factor per bone; ``(1, 1)`` keeps them.
        probability: share of the windows augmented (the rest stay real).
        noise_px: the detector noise (``detector_noise``'s ``noise_px``)
            added after projection; the ``noisy`` source's value when the
            model trains on it (:func:`noise_px_of`), else 0.
    """
    virtual_cameras: bool = True
    bone_scale: Range = (1.0, 1.0)
    probability: float = 0.5
    noise_px: float = 0.0
    yaw_deg: Range = (-180.0, 180.0)
    distance_m: Range = (4.2, 5.6)
    height_m: Range = (1.47, 1.63)
    tilt_deg: Range = (10.6, 16.0)
    roll_deg: Range = (-4.0, 5.4)
    focal_x_px: Range = (1145.1, 1149.6)
    focal_y_px: Range = (1143.8, 1148.7)
    centre_x_px: Range = (509.0, 519.0)
    centre_y_px: Range = (502.0, 515.0)

    def __post_init__(self):
        for name in ('bone_scale', 'yaw_deg', 'distance_m', 'height_m',
                     'tilt_deg', 'roll_deg', 'focal_x_px', 'focal_y_px',
                     'centre_x_px', 'centre_y_px'):
            _check_range(name, getattr(self, name))
        if not 0.0 < self.probability <= 1.0:
            raise ValueError(f"'probability' must be in (0, 1], got "
                             f"{self.probability}")
        if not self.noise_px >= 0.0:
            raise ValueError(f"'noise_px' must be >= 0, got {self.noise_px}")
        low = {name: getattr(self, name)[0] for name in (
            'bone_scale', 'distance_m', 'focal_x_px', 'focal_y_px')}
        if min(low.values()) <= 0.0:
            raise ValueError(f"these ranges must be positive, got lows "
                             f"{low}")
        if not self.virtual_cameras and self.bone_scale == (1.0, 1.0):
            raise ValueError(
                "GeometricAugment(virtual_cameras=False, bone_scale=(1, 1)) "
                "changes nothing; enable virtual cameras or give a "
                "bone_scale range such as (0.9, 1.1)")


def _check_range(name: str, value: Any) -> None:
    ok = (isinstance(value, tuple) and len(value) == 2
          and all(isinstance(v, (int, float)) and np.isfinite(v)
                  for v in value) and value[0] <= value[1])
    if not ok:
        raise ValueError(f"{name!r} must be a (low, high) tuple of finite "
                         f"numbers with low <= high, got {value!r}")


def noise_px_of(data, source: str) -> float:
    """The ``noise_px`` a prepared file's ``source`` was made with: the
    demo set records it in its provenance for ``noisy``; 0 otherwise."""
    if source != 'noisy':
        return 0.0
    return float(data.meta.get('provenance', {}).get('noise_px', 0.0))


@lru_cache(maxsize=1)
def real_intrinsics() -> Tuple[np.ndarray, np.ndarray]:
    """``(intrinsics [4, 9], resolution [4, 2])`` of the 4 shipped
    Human3.6M cameras (intrinsics are shared by all subjects)."""
    cams = next(iter(load_h36m_cameras(DEFAULT_CAMERAS).values()))
    return (np.stack([c.intrinsics for c in cams]),
            np.stack([c.resolution for c in cams]))


class ViewSources(NamedTuple):
    """Where every frame of a ``PoseWindows`` came from, so a window can be
    filmed again: its world rows and the view's camera."""
    positions: np.ndarray  # [F_data, 17, 3] the data's world positions
    world_row: np.ndarray  # [N] row of ``positions`` of each frame
    camera: np.ndarray  # [N] flat index into the camera arrays
    R: np.ndarray  # [S * C, 3, 3]
    t: np.ndarray  # [S * C, 3]
    intrinsics: np.ndarray  # [S * C, 9]
    resolution: np.ndarray  # [S * C, 2]
    z_up: bool  # False for data stored in the camera frame


def view_sources(data, views: List[Any]) -> ViewSources:
    """The sources of the loader's ``views`` (each with ``inputs``, its
    ``world_start`` row and ``camera`` ``(sequence, camera)`` pair)."""
    cams = data.num_cameras
    rows = [np.arange(v.world_start, v.world_start + len(v.inputs))
            for v in views]
    flat = [np.full(len(v.inputs), v.camera[0] * cams + v.camera[1])
            for v in views]
    camera_frame = (np.allclose(data.camera_R, np.eye(3))
                    and np.allclose(data.camera_t, 0.0))
    return ViewSources(
        positions=data.positions_3d, world_row=np.concatenate(rows),
        camera=np.concatenate(flat).astype(np.int32),
        R=data.camera_R.reshape(-1, 3, 3).astype(np.float64),
        t=data.camera_t.reshape(-1, 3).astype(np.float64),
        intrinsics=data.camera_intrinsics.reshape(-1, 9).astype(np.float64),
        resolution=data.camera_resolution.reshape(-1, 2),
        z_up=not camera_frame)


def _bone_groups() -> np.ndarray:
    """``[17]`` group of each bone (named by its child joint; the root's
    entry is unused): a left bone shares its right twin's group, so one
    factor scales both."""
    group = np.arange(17)
    group[list(LEFT_17)] = RIGHT_17
    return np.unique(group, return_inverse=True)[1]


BONE_GROUP = _bone_groups()
NUM_BONE_GROUPS = int(BONE_GROUP.max()) + 1
_PARENT = np.maximum(np.array(PARENTS_17), 0)  # the root is its own


def scale_bones(world: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``[..., 17, 3]`` joints with bone ``k`` (parent to joint ``k``)
    scaled by ``factors[..., k]`` (the root's entry is unused): the root
    stays, every other joint is the root plus its chain of scaled bones."""
    bones = (world - world[..., _PARENT, :]) * factors[..., None]
    out = np.empty_like(bones)
    out[..., 0, :] = world[..., 0, :]
    # parents come before their children: one pass down the tree (a
    # 17 x 17 root-to-joint path matmul per frame is 3x slower)
    for joint in range(1, 17):
        out[..., joint, :] = out[..., PARENTS_17[joint], :] + \
            bones[..., joint, :]
    return out


class Plan(NamedTuple):
    """The random draws of one batch, one row per window."""
    chosen: np.ndarray  # [n] bool: augmented or not
    bones: np.ndarray  # [n, 17] bone factors
    yaw: np.ndarray  # [n] radians: direction of the camera from the root
    distance: np.ndarray  # [n] metres, horizontal
    height: np.ndarray  # [n] metres above the floor
    tilt: np.ndarray  # [n] radians, downwards
    roll: np.ndarray  # [n] radians, about the optical axis
    intrinsics: np.ndarray  # [n, 9]
    resolution: np.ndarray  # [n, 2]
    noise: Any  # [chosen rows, T, 17, 2] pixels, or None


_ROW_FIELDS = Plan._fields[:-1]


def take(plan: Plan, rows) -> Plan:
    """The plan of ``rows`` (a slice or indices) of its windows."""
    kept = np.arange(len(plan.chosen))[rows]
    noise = plan.noise
    if noise is not None:
        slot = np.cumsum(plan.chosen) - 1  # row -> its noise, if chosen
        noise = noise[slot[kept][plan.chosen[kept]]]
    return Plan(*(getattr(plan, f)[kept] for f in _ROW_FIELDS), noise)


def sample_plan(options: GeometricAugment, n: int, frames: int,
                rng: np.random.Generator) -> Plan:
    """Every draw for ``n`` windows of ``frames`` frames, in a fixed order
    (so the seed decides all of them)."""
    def uniform(bounds: Range, size=n) -> np.ndarray:
        return rng.uniform(bounds[0], bounds[1], size)

    chosen = rng.random(n) < options.probability
    groups = uniform(options.bone_scale, (n, NUM_BONE_GROUPS))
    bones = groups[:, BONE_GROUP]
    bones[:, 0] = 1.0
    real, sizes = real_intrinsics()
    base = rng.integers(0, len(real), n)
    intrinsics = real[base].copy()
    for column, bounds in enumerate((options.focal_x_px, options.focal_y_px,
                                     options.centre_x_px,
                                     options.centre_y_px)):
        intrinsics[:, column] = uniform(bounds)
    angles = [np.radians(uniform(getattr(options, name))) for name in
              ('yaw_deg', 'tilt_deg', 'roll_deg')]
    distance, height = uniform(options.distance_m), uniform(options.height_m)
    noise = None
    if options.noise_px > 0:
        noise = detector_noise(np.zeros((int(chosen.sum()), frames, 17, 2)),
                               options.noise_px, rng)
    return Plan(chosen, bones, angles[0], distance, height, angles[1],
                angles[2], intrinsics, sizes[base], noise)


def virtual_cameras(root: np.ndarray, plan: Plan
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """``(R [n, 3, 3] world -> camera, centre [n, 3])`` of cameras at the
    plan's yaw and horizontal distance from ``root`` ``[n, 3]`` and at its
    height, looking at the root's vertical, tilted down and rolled."""
    return camera_pose(root, plan.yaw, plan.distance, plan.height,
                       plan.tilt, plan.roll)


def camera_pose(root, yaw, distance, height, tilt, roll
                ) -> Tuple[np.ndarray, np.ndarray]:
    """``(R [n, 3, 3] world -> camera, centre [n, 3])`` of cameras placed
    ``distance`` (horizontal, metres) from ``root`` ``[n, 3]`` in the
    direction ``yaw`` (radians from +x), ``height`` above the floor,
    looking horizontally at the root's vertical, then tilted down by
    ``tilt`` and rolled by ``roll`` about the optical axis (radians; all
    ``[n]`` or scalars)."""
    root = np.atleast_2d(root).astype(np.float64)
    yaw, distance, height, tilt, roll = (
        np.broadcast_to(np.asarray(v, dtype=np.float64), root.shape[:1])
        for v in (yaw, distance, height, tilt, roll))
    away = np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], -1)
    centre = root + distance[:, None] * away
    centre[:, 2] = height
    tilt, roll = tilt[:, None], roll[:, None]
    forward = -np.cos(tilt) * away - np.sin(tilt) * np.array([0, 0, 1.0])
    right = np.cross(-away, [0.0, 0.0, 1.0])  # x right, y down, z ahead
    down = np.cross(forward, right)
    rolled_right = np.cos(roll) * right - np.sin(roll) * down
    rolled_down = np.sin(roll) * right + np.cos(roll) * down
    return np.stack([rolled_right, rolled_down, forward], 1), centre


def _to_camera(world: np.ndarray, R: np.ndarray, t: np.ndarray
               ) -> np.ndarray:
    """:func:`world_to_camera` with one camera per window ``[n, ...]``."""
    return (world - t[:, None, None]) @ np.swapaxes(R, -1, -2)[:, None]


def film(options: GeometricAugment, world: np.ndarray, plan: Plan,
         own: Tuple[np.ndarray, ...]) -> Tuple[np.ndarray, ...]:
    """``(camera-frame joints [n, T, 17, 3], intrinsics [n, 9], image size
    [n, 2])`` of windows ``world`` ``[n, T, 17, 3]`` re-proportioned and
    filmed as ``plan`` says; ``own`` is the windows' own ``(R, t,
    intrinsics, resolution)``, used without virtual cameras."""
    if options.bone_scale != (1.0, 1.0):
        world = scale_bones(world, plan.bones[:, None])
    if not options.virtual_cameras:
        return _to_camera(world, own[0], own[1]), own[2], own[3]
    R, centre = virtual_cameras(world[:, world.shape[1] // 2, 0], plan)
    cam = _to_camera(world, R, centre)
    # a window that walks towards the camera could reach behind it; back
    # the camera off along its axis instead (depths grow, x and y stay)
    cam[..., 2] += np.maximum(0.0, MIN_DEPTH - cam[..., 2].min(axis=(1, 2))
                              )[:, None, None]
    return cam, plan.intrinsics, plan.resolution


def network_arrays(cam: np.ndarray, intrinsics: np.ndarray,
                   resolution: np.ndarray, noise, joints: int,
                   target: Optional[int] = None
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """What the loader makes of a view: ``(inputs [n, T, J, 2] normalised
    screen coordinates, targets [n, J, 3] root-relative target frame)``,
    float32, with the detector ``noise`` (pixels, or None) added. The
    target is window position ``target`` (default the centre; a causal
    model's windows pass their last)."""
    pixels = project_to_pixels(cam, intrinsics[:, None, None])
    if noise is not None:
        pixels = pixels + noise
    # normalize_screen's arithmetic, one image size per window
    w, h = (resolution.astype(np.float64)[:, i, None, None, None]
            for i in (0, 1))
    inputs = pixels / w * 2 - np.concatenate(
        [np.ones_like(w), h / w], axis=-1)
    centre = cam[:, cam.shape[1] // 2 if target is None else target]
    return (select_joints(inputs, joints).astype(np.float32),
            select_joints(centre - centre[:, :1], joints).astype(np.float32))


def augment_batch(options: GeometricAugment, windows, rows: np.ndarray,
                  keep, batch: Tuple[np.ndarray, np.ndarray],
                  rng: np.random.Generator) -> None:
    """Augment, in place, the ``batch`` ``(inputs, targets)`` of windows
    ``rows[keep]``; the draws are made for all of ``rows`` (the global
    batch), so every process of a distributed run draws the same."""
    sources: ViewSources = windows.view_sources
    if options.virtual_cameras and not sources.z_up:
        raise ValueError("virtual cameras need a z-up world (floor at 0); "
                         "these data are stored in the camera frame (every "
                         "R = I, t = 0), e.g. MPI-INF-3DHP; use "
                         "GeometricAugment(virtual_cameras=False)")
    plan = take(sample_plan(options, len(rows), windows.frames, rng), keep)
    chosen = np.flatnonzero(plan.chosen)
    if not len(chosen):
        return
    plan, mine = take(plan, chosen), np.asarray(rows)[keep][chosen]
    # a few windows at a time: the temporaries then stay in the CPU's
    # cache (2x faster at T = 243 than the whole batch at once)
    step = max(1, CHUNK_FRAMES // windows.frames)
    for begin in range(0, len(chosen), step):
        part = slice(begin, begin + step)
        inputs, targets = _augment_windows(options, windows, mine[part],
                                           take(plan, part))
        batch[0][chosen[part]], batch[1][chosen[part]] = inputs, targets


def _augment_windows(options: GeometricAugment, windows, rows: np.ndarray,
                     plan: Plan) -> Tuple[np.ndarray, np.ndarray]:
    """The network arrays of windows ``rows`` augmented as ``plan`` says
    (one plan row per window)."""
    sources: ViewSources = windows.view_sources
    frames = windows.window_indices(rows)
    world = sources.positions[sources.world_row[frames]].astype(np.float64)
    cam = sources.camera[frames[:, frames.shape[1] // 2]]
    own = (sources.R[cam], sources.t[cam], sources.intrinsics[cam],
           sources.resolution[cam])
    return network_arrays(*film(options, world, plan, own), plan.noise,
                          windows.num_joints, windows.target_index)

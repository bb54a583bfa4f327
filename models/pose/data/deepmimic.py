"""Real motion-capture clips shipped inside the ``pybullet`` package.

``pybullet`` (zlib licence) ships the DeepMimic motion clips (Peng et al.,
"DeepMimic", SIGGRAPH 2018, MIT licence) in ``pybullet_data/data/motions``:
15 humanoid clips (walk, run, jump, kicks, punch, dances, cartwheel,
backflip, crawl, roll, spin, get-ups; 33.6 s in all) recorded with optical
motion capture and retargeted by the DeepMimic authors to their humanoid.
The performers are not identified, so the demo splits by clip.

Each frame stores a duration, the root position and a rotation per joint
(quaternions ``w, x, y, z``; knees and elbows one angle about their z
axis), y-up, metres. The humanoid's bone offsets come from
``pybullet_data/humanoid/humanoid.urdf`` (scaled by the 0.25 that DeepMimic
loads it with). We run forward kinematics and read off the 17 Human3.6M
joints:

=====================  =====================================================
Human3.6M joint        DeepMimic humanoid
=====================  =====================================================
0 pelvis               root
1-3 right hip/knee/    right_hip, right_knee, right_ankle joints
ankle
4-6 left hip/knee/     left_hip, left_knee, left_ankle joints
ankle
7 spine                chest joint (mid torso)
8 thorax               neck joint (base of the neck, between the shoulders)
9 neck/nose            0.09 m above the neck joint along the head's axis
                       (approximation: the humanoid has no face)
10 head                0.20 m above the neck joint (top of the head sphere)
11-13 left shoulder/   left_shoulder, left_elbow, left_wrist joints
elbow/wrist
14-16 right ...        right_shoulder, right_elbow, right_wrist joints
=====================  =====================================================

Output is z-up world metres at 50 fps. The clips come at their own frame
durations (16 to 60 fps); they are resampled in joint space: root position
linearly, joint rotations by spherical linear interpolation (slerp), hinge
angles linearly, then forward kinematics. Interpolating joint *positions*
instead would shorten limbs between frames (by up to a third on the 16 fps
backflip); this way every bone keeps its length in every frame.
"""
import importlib.metadata
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from models.pose.data.camera import quaternion_to_matrix

URDF_SCALE = 0.25
FPS = 50.0
#: Held out for testing; each has a relative in training (kick, spin,
#: getup_facedown, dance_a) but none of its frames.
TEST_CLIPS = ('humanoid3d_dance_b', 'humanoid3d_getup_faceup',
              'humanoid3d_spinkick')

# Frame layout after the duration: (joint, number of values), in file order.
LAYOUT = (('root_pos', 3), ('root', 4), ('chest', 4), ('neck', 4),
          ('right_hip', 4), ('right_knee', 1), ('right_ankle', 4),
          ('right_shoulder', 4), ('right_elbow', 1), ('left_hip', 4),
          ('left_knee', 1), ('left_ankle', 4), ('left_shoulder', 4),
          ('left_elbow', 1))
PARENT = {'chest': 'root', 'neck': 'chest', 'right_hip': 'root',
          'right_knee': 'right_hip', 'right_ankle': 'right_knee',
          'right_shoulder': 'chest', 'right_elbow': 'right_shoulder',
          'right_wrist': 'right_elbow', 'left_hip': 'root',
          'left_knee': 'left_hip', 'left_ankle': 'left_knee',
          'left_shoulder': 'chest', 'left_elbow': 'left_shoulder',
          'left_wrist': 'left_elbow'}
H36M_FROM = ('root', 'right_hip', 'right_knee', 'right_ankle', 'left_hip',
             'left_knee', 'left_ankle', 'chest', 'neck', 'nose', 'head',
             'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder',
             'right_elbow', 'right_wrist')
HEAD_POINTS = {'nose': 0.09, 'head': 0.20}  # metres above the neck joint
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])

SOURCE_INFO = {
    'package': 'pybullet',
    'licence': 'pybullet: zlib; DeepMimic motion clips: MIT',
    'url': 'https://github.com/bulletphysics/bullet3 (data/motions), '
           'https://github.com/xbpeng/DeepMimic',
    'description': 'DeepMimic humanoid clips from optical motion capture, '
                   'forward kinematics to the 17-joint Human3.6M skeleton',
}


def data_dir() -> Path:
    try:
        import pybullet_data
    except ImportError:
        raise FileNotFoundError(
            "the demo data come from the 'pybullet' package, which is not "
            "installed: pip install -e '.[demo]'") from None
    return Path(pybullet_data.getDataPath())


def _offsets(urdf: Path) -> Dict[str, np.ndarray]:
    """Joint origin offsets (parent frame, metres) from the URDF."""
    # the shipped file ends in a NUL byte, which XML parsers reject
    root = ET.fromstring(urdf.read_bytes().rstrip(b'\x00'))
    out = {}
    for joint in root.iter('joint'):
        origin = joint.find('origin')
        if origin is not None:
            out[joint.get('name')] = URDF_SCALE * np.array(
                [float(v) for v in origin.get('xyz').split()])
    return out


def _z_rotation(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1),
                     np.stack([zero, zero, one], -1)], -2)


def forward_kinematics(frames: np.ndarray,
                       offsets: Dict[str, np.ndarray],
                       head_points: Optional[Dict[str, float]] = None
                       ) -> np.ndarray:
    """``[F, 44]`` DeepMimic frames to ``[F, 17, 3]`` y-up joint positions
    in the Human3.6M order; ``head_points`` overrides
    :data:`HEAD_POINTS` (another body's head)."""
    values, col = {}, 1
    for name, size in LAYOUT:
        values[name] = frames[:, col:col + size]
        col += size
    rot = {'root': quaternion_to_matrix(values['root'])}
    pos = {'root': values['root_pos']}
    for joint, parent in PARENT.items():  # parents come first
        pos[joint] = pos[parent] + np.einsum('fij,j->fi', rot[parent],
                                             offsets[joint])
        if joint in values:
            local = values[joint]
            local_rot = (_z_rotation(local[:, 0]) if local.shape[1] == 1
                         else quaternion_to_matrix(local))
            rot[joint] = rot[parent] @ local_rot
        else:
            rot[joint] = rot[parent]
    for point, height in (head_points or HEAD_POINTS).items():
        pos[point] = pos['neck'] + rot['neck'][:, :, 1] * height
    return np.stack([pos[name] for name in H36M_FROM], axis=1)


def slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of ``[..., 4]`` unit quaternions at
    fractions ``u`` ``[...]``, along the shorter arc."""
    q0 = q0 / np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # q and -q are the same rotation
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    u = u[..., None]
    near = sin < 1e-6  # (almost) the same rotation: lerp is exact enough
    safe = np.where(near, 1.0, sin)
    w0 = np.where(near, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(near, u, np.sin(u * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def resample_frames(frames: np.ndarray, fps: float = FPS) -> np.ndarray:
    """``[F, 44]`` DeepMimic frames (first column: duration) resampled to
    ``fps`` in joint space: positions and hinge angles linearly, rotations
    by slerp. Returns frames of the same layout."""
    durations = frames[:, 0]
    times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
    target = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    seg = np.clip(np.searchsorted(times, target, side='right') - 1, 0,
                  len(times) - 2)
    span = np.maximum(times[seg + 1] - times[seg], 1e-12)
    u = np.clip((target - times[seg]) / span, 0.0, 1.0)
    out = np.empty((len(target), frames.shape[1]))
    out[:, 0] = 1.0 / fps
    col = 1
    for _, size in LAYOUT:
        a, b = frames[seg, col:col + size], frames[seg + 1, col:col + size]
        if size == 4:
            out[:, col:col + size] = slerp(a, b, u)
        else:
            out[:, col:col + size] = a + (b - a) * u[:, None]
        col += size
    return out


def load_clips() -> List[Dict]:
    """Every humanoid clip as ``dict(name, action, fps, positions)`` with
    ``positions`` float32 ``[frames, 17, 3]``, z-up world metres, 50 fps."""
    root = data_dir()
    offsets = _offsets(root / 'humanoid' / 'humanoid.urdf')
    files = sorted((root / 'data' / 'motions').glob('humanoid3d_*.txt'))
    if not files:
        raise FileNotFoundError(f"no humanoid3d_*.txt motion clips under "
                                f"{root / 'data' / 'motions'}")
    clips = []
    for path in files:
        frames = np.asarray(json.loads(path.read_text())['Frames'],
                            dtype=np.float64)
        joints = forward_kinematics(resample_frames(frames), offsets)
        joints = joints @ Y_UP_TO_Z_UP.T
        clips.append({'name': path.stem,
                      'action': path.stem.replace('humanoid3d_', ''),
                      'fps': FPS, 'positions': joints.astype(np.float32),
                      'source_file': path.name})
    return clips


def humanoid_offsets() -> Dict[str, np.ndarray]:
    """The humanoid's joint offsets (metres), as :func:`load_clips` uses
    them."""
    return _offsets(data_dir() / 'humanoid' / 'humanoid.urdf')


def load_frames(name: str) -> np.ndarray:
    """Clip ``name``'s frames resampled to 50 fps, ``[F, 44]`` (the
    joint rotations :func:`load_clips` runs forward kinematics on)."""
    path = data_dir() / 'data' / 'motions' / f'{name}.txt'
    if not path.is_file():
        raise FileNotFoundError(f"no motion clip {name!r} ({path})")
    return resample_frames(np.asarray(json.loads(path.read_text())[
        'Frames'], dtype=np.float64))


def source_info() -> Dict[str, str]:
    info = dict(SOURCE_INFO)
    try:
        info['version'] = importlib.metadata.version('pybullet')
    except importlib.metadata.PackageNotFoundError:
        info['version'] = 'unknown'
    return info

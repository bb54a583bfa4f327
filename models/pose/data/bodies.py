"""Other bodies for the demo's ``new-body`` test split.

The held-out clips are replayed, joint rotation for joint rotation, on
bodies of other proportions: each bone of the DeepMimic humanoid keeps its
direction in its parent's frame and takes the length that an
anthropometric table gives for an adult of the body's stature. The table
is D. A. Winter, *Biomechanics and Motor Control of Human Movement*
(4th ed., Wiley 2009), Fig. 4.1: segment lengths as fractions of the
stature ``H``, after Drillis and Contini (1966):

================================  ==========  ===========================
Human3.6M bone                    length      Winter's segment
================================  ==========  ===========================
pelvis - hip (each side)          0.0955 H    half the hip width 0.191 H
hip - knee                        0.245 H     thigh
knee - ankle                      0.246 H     leg (shank)
pelvis - spine - thorax (sum)     0.288 H     hip height 0.530 H to
                                              shoulder height 0.818 H
thorax - shoulder (each side)     0.1295 H    half the shoulder width
                                              0.259 H
shoulder - elbow                  0.186 H     upper arm
elbow - wrist                     0.146 H     forearm
thorax - neck/nose                0.085 H     shoulder height to the
                                              middle of chin (0.870 H)
                                              and eyes (0.936 H)
neck/nose - head                  0.097 H     from there to the vertex
================================  ==========  ===========================

The trunk is split between its two bones as the humanoid splits it. The
hip width is the body's breadth at the hips, so the pelvis-to-hip bones
are wider apart than hip joint centres are: an approximation, like the
humanoid's head points. The root trajectory is scaled by the ratio of
leg lengths, so the feet meet the floor as in the source clip. The two
bodies are a small and a tall adult (:data:`BODIES`).
"""
from typing import Dict, List, Tuple

import numpy as np

from models.pose.data.augment import camera_pose, real_intrinsics
from models.pose.data.camera import Camera

#: Winter (2009), Fig. 4.1: fractions of the stature.
WINTER_2009 = {'hip_width': 0.191, 'thigh': 0.245, 'shank': 0.246,
               'hip_height': 0.530, 'shoulder_height': 0.818,
               'shoulder_width': 0.259, 'upper_arm': 0.186,
               'forearm': 0.146, 'chin_height': 0.870, 'eye_height': 0.936}
#: Subject name -> stature (metres) of the new-body split's bodies.
BODIES = {'NB-small': 1.55, 'NB-tall': 1.90}
#: The new-body cameras: yaws (degrees, from +x about the capture
#: volume's centre) between the real cameras' (about +-68 and +-110),
#: higher than any real camera (1.46 to 1.63 m), looking at 1 m height.
NEW_CAMERA_YAWS = (0.0, 90.0, 180.0, 270.0)
NEW_CAMERA_HEIGHT, NEW_CAMERA_DISTANCE, NEW_CAMERA_AIM = 2.5, 4.8, 1.0


def bone_lengths(stature: float) -> Dict[str, float]:
    """Winter's lengths (metres) of the Human3.6M bones of a body of
    ``stature`` metres, by child joint (``trunk``: spine plus thorax)."""
    if not 0.5 < stature < 2.5:
        raise ValueError(f"'stature' must be an adult's height in metres "
                         f"(0.5 to 2.5), got {stature!r}")
    w = WINTER_2009
    nose = (w['chin_height'] + w['eye_height']) / 2 - w['shoulder_height']
    fractions = {'hip': w['hip_width'] / 2, 'knee': w['thigh'],
                 'ankle': w['shank'],
                 'trunk': w['shoulder_height'] - w['hip_height'],
                 'shoulder': w['shoulder_width'] / 2,
                 'elbow': w['upper_arm'], 'wrist': w['forearm'],
                 'neck_nose': nose,
                 'head': 1.0 - w['shoulder_height'] - nose}
    out = {}
    for part, fraction in fractions.items():
        sides = (('left_', 'right_') if part in
                 ('hip', 'knee', 'ankle', 'shoulder', 'elbow', 'wrist')
                 else ('',))
        out.update({side + part: fraction * stature for side in sides})
    return out


def _resized(vector: np.ndarray, length: float) -> np.ndarray:
    return vector * (length / np.linalg.norm(vector))


def body_offsets(offsets: Dict[str, np.ndarray], stature: float
                 ) -> Tuple[Dict[str, np.ndarray], Dict[str, float]]:
    """``(offsets, head points)`` for
    :func:`~models.pose.data.deepmimic.forward_kinematics`: the humanoid's
    joint offsets resized to :func:`bone_lengths`, directions kept."""
    length = bone_lengths(stature)
    out = dict(offsets)
    for side in ('left_', 'right_'):
        for joint in ('hip', 'knee', 'ankle', 'elbow', 'wrist'):
            out[side + joint] = _resized(offsets[side + joint],
                                         length[side + joint])
    trunk = np.linalg.norm(offsets['chest']) + np.linalg.norm(
        offsets['neck'])
    for joint in ('chest', 'neck'):
        out[joint] = offsets[joint] * (length['trunk'] / trunk)
    for side in ('left_', 'right_'):  # the thorax is the neck joint
        out[side + 'shoulder'] = out['neck'] + _resized(
            offsets[side + 'shoulder'] - offsets['neck'],
            length[side + 'shoulder'])
    nose = length['neck_nose']
    return out, {'nose': nose, 'head': nose + length['head']}


def replay(frames: np.ndarray, offsets: Dict[str, np.ndarray],
           stature: float) -> np.ndarray:
    """``[F, 17, 3]`` z-up world positions (metres) of DeepMimic ``frames``
    ``[F, 44]`` (50 fps) played by the body of ``stature``."""
    from models.pose.data import deepmimic

    new, head = body_offsets(offsets, stature)
    legs = [np.linalg.norm(o['left_knee']) + np.linalg.norm(o['left_ankle'])
            for o in (new, offsets)]
    frames = np.array(frames, dtype=np.float64)
    frames[:, 1:4] *= legs[0] / legs[1]  # the root moves as the legs allow
    joints = deepmimic.forward_kinematics(frames, new, head)
    return joints @ deepmimic.Y_UP_TO_Z_UP.T


def new_body_cameras() -> List[Camera]:
    """The 4 cameras of the new-body split: real intrinsics (camera ``i``
    of the Human3.6M calibration), poses no real camera has
    (:data:`NEW_CAMERA_YAWS`, :data:`NEW_CAMERA_HEIGHT`)."""
    intrinsics, sizes = real_intrinsics()
    tilt = np.arctan2(NEW_CAMERA_HEIGHT - NEW_CAMERA_AIM,
                      NEW_CAMERA_DISTANCE)
    R, centre = camera_pose(np.zeros((len(NEW_CAMERA_YAWS), 3)),
                            np.radians(NEW_CAMERA_YAWS), NEW_CAMERA_DISTANCE,
                            NEW_CAMERA_HEIGHT, tilt, 0.0)
    return [Camera(id=f'new-body-{i}', R=R[i], t=centre[i],
                   intrinsics=intrinsics[i], resolution=sizes[i])
            for i in range(len(NEW_CAMERA_YAWS))]

"""Detector joint layouts and their mapping to the Human3.6M joints.

Each layout is a tuple of joint names in the detector's order, and one
table says how every one of the 17 Human3.6M joints is made from them:
a weighted sum of source joints (weights add up to 1, so the result is
an affine combination and moves with the image). A joint copied one to
one has a single weight 1.0. The confidence of a mapped joint is the
*minimum* of its sources' confidences: a synthesised pelvis is only as
trustworthy as the worse of the two hips it comes from.

The tables (printed in ``docs/data_formats.rst``):

* pelvis: mean of the hips (COCO-17, COCO-18, MediaPipe-33); BODY_25's
  MidHip; Halpe-26's Hip.
* thorax: mean of the shoulders where the layout has no neck (COCO-17,
  MediaPipe-33); OpenPose's and Halpe's Neck otherwise.
* spine: halfway between pelvis and thorax (Human3.6M's spine joint sits
  about there).
* neck/nose: the nose.
* head: Halpe-26's Head (a head-top point, like Human3.6M's); elsewhere
  the eye midpoint pushed away from the nose by the nose-to-eye offset,
  ``2 * mean(eyes) - nose`` (there is no head-top point to copy).
"""
from functools import lru_cache
from typing import Dict, Mapping, Tuple

import numpy as np

from models.pose.data.skeleton import COCO_NAMES, JOINT_NAMES_17, KEEP_16

COCO_18_NAMES = ('nose', 'neck', 'right_shoulder', 'right_elbow',
                 'right_wrist', 'left_shoulder', 'left_elbow', 'left_wrist',
                 'right_hip', 'right_knee', 'right_ankle', 'left_hip',
                 'left_knee', 'left_ankle', 'right_eye', 'left_eye',
                 'right_ear', 'left_ear')
BODY_25_NAMES = ('nose', 'neck', 'right_shoulder', 'right_elbow',
                 'right_wrist', 'left_shoulder', 'left_elbow', 'left_wrist',
                 'mid_hip', 'right_hip', 'right_knee', 'right_ankle',
                 'left_hip', 'left_knee', 'left_ankle', 'right_eye',
                 'left_eye', 'right_ear', 'left_ear', 'left_big_toe',
                 'left_small_toe', 'left_heel', 'right_big_toe',
                 'right_small_toe', 'right_heel')
HALPE_26_NAMES = COCO_NAMES + ('head', 'neck', 'hip', 'left_big_toe',
                               'right_big_toe', 'left_small_toe',
                               'right_small_toe', 'left_heel', 'right_heel')
MEDIAPIPE_33_NAMES = (
    'nose', 'left_eye_inner', 'left_eye', 'left_eye_outer',
    'right_eye_inner', 'right_eye', 'right_eye_outer', 'left_ear',
    'right_ear', 'mouth_left', 'mouth_right', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
    'right_wrist', 'left_pinky', 'right_pinky', 'left_index',
    'right_index', 'left_thumb', 'right_thumb', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'left_heel',
    'right_heel', 'left_foot_index', 'right_foot_index')

LAYOUT_NAMES: Dict[str, Tuple[str, ...]] = {
    'h36m': JOINT_NAMES_17, 'coco': COCO_NAMES, 'coco18': COCO_18_NAMES,
    'body25': BODY_25_NAMES, 'halpe26': HALPE_26_NAMES,
    'mediapipe': MEDIAPIPE_33_NAMES}

_HIPS = {'left_hip': 0.5, 'right_hip': 0.5}
_SHOULDERS = {'left_shoulder': 0.5, 'right_shoulder': 0.5}
_EYE_HEAD = {'left_eye': 1.0, 'right_eye': 1.0, 'nose': -1.0}
# the limbs every layout has under the same name
_LIMBS = {name: {name: 1.0} for name in JOINT_NAMES_17 if
          name.split('_')[-1] in ('hip', 'knee', 'ankle', 'shoulder',
                                  'elbow', 'wrist')}


def _half(a: Mapping[str, float], b: Mapping[str, float]
          ) -> Dict[str, float]:
    """Weights of the midpoint of two weighted joints."""
    out: Dict[str, float] = {}
    for part in (a, b):
        for name, w in part.items():
            out[name] = out.get(name, 0.0) + 0.5 * w
    return out


def _table(pelvis, thorax, head) -> Dict[str, Dict[str, float]]:
    return {**_LIMBS, 'pelvis': pelvis, 'thorax': thorax,
            'spine': _half(pelvis, thorax), 'neck_nose': {'nose': 1.0},
            'head': head}


#: H36M joint name -> {source joint name: weight}, per layout.
TABLES: Dict[str, Dict[str, Dict[str, float]]] = {
    'h36m': {name: {name: 1.0} for name in JOINT_NAMES_17},
    'coco': _table(_HIPS, _SHOULDERS, _EYE_HEAD),
    'coco18': _table(_HIPS, {'neck': 1.0}, _EYE_HEAD),
    'body25': _table({'mid_hip': 1.0}, {'neck': 1.0}, _EYE_HEAD),
    'halpe26': _table({'hip': 1.0}, {'neck': 1.0}, {'head': 1.0}),
    'mediapipe': _table(_HIPS, _SHOULDERS, _EYE_HEAD),
}
#: layout name for every joint count a reader can meet
LAYOUT_BY_COUNT = {len(names): name for name, names in LAYOUT_NAMES.items()
                   if name != 'h36m'}


def known_layouts() -> str:
    """``'coco (17 joints), ...'`` for error messages."""
    return ', '.join(f'{name} ({len(names)} joints)'
                     for name, names in LAYOUT_NAMES.items())


def check_layout(layout: str) -> str:
    if layout not in LAYOUT_NAMES:
        raise ValueError(f"'layout' must be one of {sorted(LAYOUT_NAMES)}, "
                         f"got {layout!r}")
    return layout


@lru_cache(maxsize=None)
def weight_matrix(layout: str) -> np.ndarray:
    """``[17, J]`` weights: H36M joints as rows, source joints as columns."""
    names = LAYOUT_NAMES[check_layout(layout)]
    index = {name: i for i, name in enumerate(names)}
    weights = np.zeros((17, len(names)))
    for row, joint in enumerate(JOINT_NAMES_17):
        for source, w in TABLES[layout][joint].items():
            weights[row, index[source]] = w
    weights.setflags(write=False)
    return weights


def to_h36m(keypoints: np.ndarray, confidence: np.ndarray, layout: str,
            joints: int = 17) -> Tuple[np.ndarray, np.ndarray]:
    """Map ``[..., J, 2]`` keypoints and ``[..., J]`` confidences of
    ``layout`` to the Human3.6M joints (``joints`` 17, or 16 without
    neck/nose). Returns ``(keypoints [..., joints, 2], confidence
    [..., joints])``; a joint's confidence is the min of its sources'."""
    weights = weight_matrix(layout)
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    if kp.shape[-2:] != (weights.shape[1], 2) or conf.shape != kp.shape[:-1]:
        raise ValueError(f"layout {layout!r} has {weights.shape[1]} joints: "
                         f"expected keypoints [..., {weights.shape[1]}, 2] "
                         f"and confidence [..., {weights.shape[1]}], got "
                         f"{kp.shape} and {conf.shape}")
    mapped = np.einsum('ij,...jc->...ic', weights, kp)
    used = weights != 0
    # min over each row's sources: unused columns count as +inf
    mapped_conf = np.where(used, conf[..., None, :], np.inf).min(axis=-1)
    if joints == 16:
        return mapped[..., KEEP_16, :], mapped_conf[..., KEEP_16]
    if joints != 17:
        raise ValueError(f"'joints' must be 17 or 16, got {joints!r}")
    return mapped, mapped_conf


def formula(layout: str, joint: str) -> str:
    """The table entry as text, e.g. ``'0.5 left_hip + 0.5 right_hip'``
    (``docs/data_formats.rst`` prints these; a test keeps them equal)."""
    terms = TABLES[check_layout(layout)][joint].items()
    if len(terms) == 1 and next(iter(terms))[1] == 1.0:
        return next(iter(terms))[0]
    text = ' '.join(f"{'-' if w < 0 else '+'} {abs(w):g} {name}"
                    for name, w in terms)
    return text[2:] if text.startswith('+ ') else text

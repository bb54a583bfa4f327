"""``.npz``, ``.json`` and ``.csv`` writers (see the package docstring)."""
import csv
import io
import json
from pathlib import Path
from typing import Any, Dict

import numpy as np

from models.common.files import save_npz_atomic, write_text_atomic
from models.pose.infer.writers import COORDINATES, PoseSequence


def _arrays(seq: PoseSequence) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        'poses_3d': np.asarray(seq.poses_3d, np.float32),
        'joint_names': np.asarray(seq.joint_names),
        'parents': np.asarray(seq.parents, np.int64),
        'frames': seq.frame_indices.astype(np.int64)}
    if seq.keypoints_2d is not None:
        out['keypoints_2d'] = np.asarray(seq.keypoints_2d, np.float32)
    if seq.confidence is not None:
        out['confidence'] = np.asarray(seq.confidence, np.float32)
    for name in ('filled', 'long_gap'):
        if getattr(seq, name) is not None:
            out[name] = np.asarray(getattr(seq, name), bool)
    if seq.image_size is not None:
        out['image_size'] = np.asarray(seq.image_size, np.float32)
    if seq.fps is not None:
        out['fps'] = np.asarray(seq.fps, np.float64)
    return out


def write_npz(path: Path, seq: PoseSequence) -> Path:
    return save_npz_atomic(path, **_arrays(seq))


def write_json(path: Path, seq: PoseSequence) -> Path:
    doc: Dict[str, Any] = {
        'units': {'poses_3d': 'metres', 'keypoints_2d': 'pixels',
                  'confidence': 'detector score, 0 = missing'},
        'coordinates': COORDINATES}
    for key, value in _arrays(seq).items():
        # float32 -> float keeps the stored value; round to 1e-6 m / px
        doc[key] = np.round(value.astype(np.float64), 6).tolist() \
            if value.dtype.kind == 'f' else value.tolist()
    return write_text_atomic(path, json.dumps(doc) + '\n')


def write_csv(path: Path, seq: PoseSequence) -> Path:
    """One row per frame and joint: ``frame, joint, x_m, y_m, z_m`` and,
    where known, ``u_px, v_px, confidence, filled, long_gap``."""
    frames, joints = seq.poses_3d.shape[:2]
    columns = {
        'frame': np.repeat(seq.frame_indices, joints),
        'joint': np.tile(np.asarray(seq.joint_names), frames)}
    for axis, name in enumerate(('x_m', 'y_m', 'z_m')):
        columns[name] = np.round(seq.poses_3d[..., axis].ravel(), 6)
    if seq.keypoints_2d is not None:
        columns['u_px'] = np.round(seq.keypoints_2d[..., 0].ravel(), 3)
        columns['v_px'] = np.round(seq.keypoints_2d[..., 1].ravel(), 3)
    if seq.confidence is not None:
        columns['confidence'] = np.round(seq.confidence.ravel(), 4)
    for name in ('filled', 'long_gap'):
        if getattr(seq, name) is not None:
            columns[name] = getattr(seq, name).ravel().astype(int)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(columns)
    writer.writerows(zip(*(c.tolist() for c in columns.values())))
    return write_text_atomic(path, buffer.getvalue())

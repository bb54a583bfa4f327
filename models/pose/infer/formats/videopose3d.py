"""VideoPose3D's custom 2D files (``data_2d_custom_<name>.npz``), as its
``prepare_data_2d_custom.py`` writes them.

Key ``positions_2d``: a *pickled* dict ``video name -> {"custom":
[array [F, 17, C]]}`` (COCO order, pixels; ``C`` 2, or more with the
score third). Key ``metadata``: a pickled dict with ``layout_name``,
``num_joints``, ``keypoints_symmetry`` and ``video_metadata`` (``video
name -> {"w", "h"}``). Reading needs ``allow_pickle=True``, so a warning
is given first: only read files from a trusted source.
"""
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_size,
    check_values,
    numbers,
)
from models.pose.infer.layouts import LAYOUT_NAMES

SCORE_THRESHOLD = 0.3


def _load(path: Path) -> tuple:
    warnings.warn(f"reading {path} with allow_pickle=True: VideoPose3D files "
                  f"hold pickled objects; only use files from a trusted "
                  f"source", stacklevel=3)
    try:
        with np.load(path, allow_pickle=True) as npz:
            missing = {'positions_2d', 'metadata'} - set(npz.files)
            if missing:
                raise DetectionFileError(path, '', f'keys {npz.files}',
                                         "'positions_2d' and 'metadata'")
            return npz['positions_2d'].item(), npz['metadata'].item()
    except (OSError, EOFError, pickle.UnpicklingError,
            zipfile.BadZipFile) as err:
        raise DetectionFileError(path, '', f'not readable ({err})',
                                 'a VideoPose3D .npz') from None


def read_videopose3d(path: Path, video: Optional[str] = None
                     ) -> Detections:
    positions, meta = _load(path)
    if not isinstance(positions, dict) or not positions or \
            not isinstance(meta, dict):
        raise DetectionFileError(path, "'positions_2d'", 'no videos',
                                 'a dict video -> {"custom": [array]}')
    if video is None and len(positions) > 1:
        raise DetectionFileError(path, '', f'{len(positions)} videos '
                                 f'{sorted(positions)}', 'a video name')
    name = video if video is not None else next(iter(positions))
    if name not in positions:
        raise DetectionFileError(path, 'video', f'{name!r}',
                                 f'one of {sorted(positions)}')
    try:
        kp = numbers(positions[name]['custom'][0], path, name, 'keypoints')
    except (KeyError, IndexError, TypeError):
        raise DetectionFileError(path, name, 'no "custom" array',
                                 '{"custom": [array [F, 17, 2]]}') from None
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] < 2:
        raise DetectionFileError(path, name, f'shape {list(kp.shape)}',
                                 '[F, 17, 2] in the COCO order')
    conf = kp[..., 2] if kp.shape[2] > 2 else np.ones(kp.shape[:2])
    frames = tuple((Person(*check_values(kp[f, :, :2], conf[f], path,
                                         f'{name}, frame {f}',
                                         LAYOUT_NAMES['coco'])),)
                   for f in range(len(kp)))
    size = (meta.get('video_metadata') or {}).get(name) or {}
    return Detections(frames, 'coco', str(path), 'videopose3d',
                      SCORE_THRESHOLD,
                      check_size([size['w'], size['h']], path,
                                 f'video_metadata[{name!r}]')
                      if 'w' in size and 'h' in size else None,
                      frame_ids=tuple(range(len(frames))))

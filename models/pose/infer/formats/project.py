"""The project's own keypoint files, now with optional confidences.

* ``.json``: ``{"image_size": [w, h], "order": ..., "fps": 30,
  "keypoints": [F, J, C]}``;
* ``.npz``: arrays ``keypoints`` ``[F, J, C]`` and optionally
  ``image_size`` ``[2]``, ``order`` (a string) and ``fps``; read with
  ``allow_pickle=False``.

``C`` is 2 (x, y pixels; every joint confidence 1) or 3 (x, y,
confidence in [0, 1]). ``order`` names a layout of
:mod:`models.pose.infer.layouts` (``h36m``, the default, ``coco``,
``coco18``, ``body25``, ``halpe26`` or ``mediapipe``). ``mediapipe``
files hold MediaPipe Pose's 33 landmarks as the solution returns them:
``x, y`` normalised to [0, 1] by the image width and height (so the image
size is required), then ``visibility``; with ``C = 4`` the columns are
``x, y, z, visibility`` and ``z`` is dropped. One person per file; a
single frame ``[J, C]`` is ``F = 1``; NaN marks a missing joint.
"""
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_fps,
    check_size,
    check_values,
    load_json,
    numbers,
)
from models.pose.infer.layouts import (
    LAYOUT_BY_COUNT,
    LAYOUT_NAMES,
    known_layouts,
)

#: MediaPipe's own drawing utilities skip landmarks with visibility < 0.5
VISIBILITY_THRESHOLD = 0.5
SCORE_THRESHOLD = 0.3


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            doc = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DetectionFileError(path, '', f'not an .npz file ({err})',
                                 'an archive written by np.savez') from None
    except ValueError as err:
        if 'allow_pickle' not in str(err):
            raise
        raise DetectionFileError(path, '', 'arrays of Python objects',
                                 'plain numbers (allow_pickle=False)') \
            from None
    for key in ('order', 'fps', 'image_size'):
        if key in doc and doc[key].dtype.kind in 'US':
            doc[key] = str(doc[key])
        elif key in doc:
            doc[key] = doc[key].tolist()
    return doc


def _one(file_value: Any, given: Any, what: str, path: Path, same) -> Any:
    """A value from the file or the caller, never two that differ."""
    if file_value is not None and given is not None and \
            not same(file_value, given):
        raise DetectionFileError(path, what, f'the file says '
                                 f'{file_value!r}, the caller {given!r}',
                                 'one of them, or the same value')
    return file_value if file_value is not None else given


def _count_hint(kp: np.ndarray) -> str:
    """What a file of this many joints probably is, for the error."""
    count = kp.shape[1] if kp.ndim == 3 else None
    if count == 16:
        return ('; 16 joints look like Human3.6M without neck/nose: give '
                'all 17 (a 16-joint model drops joint 9 itself)')
    if count in LAYOUT_BY_COUNT:
        return (f'; {count} joints look like {LAYOUT_BY_COUNT[count]}: '
                f'give order {LAYOUT_BY_COUNT[count]} (--order)')
    return ''


def _columns(kp: np.ndarray, path: Path, layout: str
             ) -> Tuple[np.ndarray, np.ndarray]:
    if kp.ndim == 2:
        kp = kp[None]
    joints = len(LAYOUT_NAMES[layout])
    widths = (3, 4) if layout == 'mediapipe' else (2, 3)
    if kp.ndim != 3 or kp.shape[0] == 0 or kp.shape[1] != joints or \
            kp.shape[2] not in widths:
        raise DetectionFileError(
            path, "'keypoints'", f'shape {list(kp.shape)} for order '
            f'{layout!r}', f'[F, {joints}, {" or ".join(map(str, widths))}]'
            f'{_count_hint(kp)} (layouts: {known_layouts()})')
    if kp.shape[2] == 2:
        return kp, np.where(np.isnan(kp).any(-1), 0.0, 1.0)
    return kp[..., :2], kp[..., -1]


def _at(layout: str) -> Callable[[Tuple[int, ...]], str]:
    """Names an index of ``[F, J, C]`` (or one frame ``[J, C]``) by frame,
    joint and column, for errors; other index paths as they are."""
    names = LAYOUT_NAMES[layout]

    def at(index: Tuple[int, ...]) -> str:
        if len(index) == 2:
            index = (0, ) + index
        if len(index) != 3 or index[1] >= len(names):
            return f"item {''.join(f'[{i}]' for i in index)}"
        frame, joint, column = index
        what = ('x', 'y')[column] if column < 2 else f'column {column}'
        return f'frame {frame}, joint {joint} ({names[joint]}), {what}'
    return at


def read_project(path: Path, order: Optional[str] = None,
                 image_size: Optional[Sequence[float]] = None
                 ) -> Detections:
    doc = _read_npz(path) if path.suffix.lower() == '.npz' \
        else load_json(path)
    if not isinstance(doc, dict) or 'keypoints' not in doc:
        seen = f"no 'keypoints' array; the file has " \
            f"{', '.join(map(str, doc)) or 'nothing'}" \
            if isinstance(doc, dict) else f'{doc!r:.80}'
        raise DetectionFileError(path, '', seen,
                                 "an object with 'keypoints'")
    layout = _one(doc.get('order'), order, "'order'", path,
                  lambda a, b: a == b) or 'h36m'
    if layout not in LAYOUT_NAMES:
        raise DetectionFileError(path, "'order'", f'{layout!r}',
                                 f'one of {sorted(LAYOUT_NAMES)}')
    size = _one(check_size(doc.get('image_size'), path),
                check_size(image_size, path, '--image-size'),
                "'image_size'", path, np.allclose)
    xy, conf = _columns(numbers(doc['keypoints'], path, "'keypoints'",
                                "'keypoints'", _at(layout)), path, layout)
    if layout == 'mediapipe':
        if size is None:
            raise DetectionFileError(path, "'image_size'", 'none given',
                                     'the image size: MediaPipe landmarks '
                                     'are normalised to [0, 1]')
        xy = xy * np.asarray(size)
    frames = tuple(
        (Person(*check_values(xy[f], conf[f], path, f'frame {f}',
                              LAYOUT_NAMES[layout])),)
        for f in range(len(xy)))
    threshold = VISIBILITY_THRESHOLD if layout == 'mediapipe' \
        else SCORE_THRESHOLD
    return Detections(frames, layout, str(path), 'project', threshold,
                      size, check_fps(doc.get('fps'), path),
                      tuple(range(len(frames))))

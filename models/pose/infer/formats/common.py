"""What every reader returns, and the checks they share.

A reader turns one file (or directory) into :class:`Detections`: per
frame, the people seen, each with keypoints ``[J, 2]`` in pixels and a
confidence ``[J]`` (0 where the joint is missing), in the file's own
joint layout (:mod:`models.pose.infer.layouts`).

Errors follow one contract (:class:`DetectionFileError`): the file, where
in it (frame, person, joint), what was seen and what was expected.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from models.pose.infer.layouts import (
    LAYOUT_BY_COUNT,
    LAYOUT_NAMES,
    known_layouts,
)

#: a pixel coordinate (or a confidence) beyond this is not a measurement
ABSURD = 1e6


class DetectionFileError(ValueError):
    """A keypoint file that cannot be read as its format says.

    ``source`` is the file, ``where`` the place in it (``'frame 3,
    person 1'``, may be empty), ``seen`` and ``expected`` what was found
    and what the format wants."""

    def __init__(self, source: Any, where: str, seen: str, expected: str):
        self.source, self.where = str(source), where
        self.seen, self.expected = seen, expected
        place = f"{self.source}: {where}: " if where else f"{self.source}: "
        super().__init__(f"{place}{seen}; expected {expected}")


@dataclass(frozen=True)
class Person:
    """One detected person in one frame, in the file's joint layout."""
    keypoints: np.ndarray  # [J, 2] float64 pixels
    confidence: np.ndarray  # [J] float64, 0 = missing
    track_id: Optional[int] = None


@dataclass(frozen=True)
class Detections:
    """The people of every frame of one video, as read from a file.

    ``frames[f]`` lists the people of frame ``f`` (empty when nobody was
    detected: frames are never dropped, so indices match the video).
    ``min_confidence`` is the reader's default threshold for the file's
    confidence scale (see ``docs/data_formats.rst``)."""
    frames: Tuple[Tuple[Person, ...], ...]
    layout: str
    source: str
    format: str
    min_confidence: float
    image_size: Optional[Tuple[float, float]] = None
    fps: Optional[float] = None
    frame_ids: Tuple[Any, ...] = field(default=())

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def has_track_ids(self) -> bool:
        people = [p for frame in self.frames for p in frame]
        return bool(people) and all(p.track_id is not None for p in people)


def load_json(path: Path) -> Any:
    """The parsed JSON of ``path`` or one :class:`DetectionFileError`."""
    try:
        with open(path, encoding='utf-8-sig') as handle:
            if not handle.read(1):
                raise DetectionFileError(path, '', 'the file is empty',
                                         'a JSON text')
            handle.seek(0)
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DetectionFileError(path, '', f'not valid JSON ({err})',
                                 'a JSON text') from None
    except RecursionError:
        raise DetectionFileError(path, '', 'JSON nested too deeply',
                                 'a JSON text of a few levels') from None
    except UnicodeDecodeError:
        raise DetectionFileError(path, '', 'not UTF-8 text',
                                 'a UTF-8 JSON file') from None


def numbers(value: Any, source: Any, where: str, what: str) -> np.ndarray:
    """``value`` as a float64 array; refuses ragged lists, non-numbers,
    booleans and integers too large for a float (OverflowError)."""
    if isinstance(value, bool) or _has(value, bool):
        raise DetectionFileError(source, where, f'{what} holds true/false',
                                 'numbers')
    # numpy reads "500" as 500 and drops an imaginary part with a warning
    if isinstance(value, str) or _has(value, str):
        raise DetectionFileError(source, where, f'{what} holds text (a JSON '
                                 f'string)', 'numbers')
    if isinstance(value, np.ndarray) and np.iscomplexobj(value):
        raise DetectionFileError(source, where, f'{what} holds complex '
                                 f'numbers', 'real numbers')
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise DetectionFileError(
            source, where, f'{what} holds an integer too large for a float',
            f'numbers within +-{ABSURD:g}') from None
    except (TypeError, ValueError):
        raise DetectionFileError(source, where, f'{what} is ragged or holds '
                                 f'non-numbers', 'a list of numbers') \
            from None


def _has(value: Any, kind: type) -> bool:
    """Whether a nested list holds a ``kind`` among its first elements
    (a sample: a detector writes one type throughout)."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and \
        any(isinstance(v, kind) or _has(v, kind) for v in value[:64])


def check_values(xy: np.ndarray, conf: np.ndarray, source: Any,
                 where: str, names: Sequence[str]) -> Tuple[np.ndarray,
                                                            np.ndarray]:
    """Refuse infinite or absurd coordinates and confidences; a NaN
    coordinate or confidence marks the joint missing (confidence 0).
    Confidences above 1 (heatmap peaks can be) are clipped to 1."""
    bad = np.isinf(xy).any(-1) | (np.abs(np.nan_to_num(xy)) > ABSURD).any(-1)
    bad |= np.isinf(conf) | (np.nan_to_num(conf) < 0) | \
        (np.nan_to_num(conf) > ABSURD)
    if bad.any():
        joint = int(np.argwhere(bad)[0][-1])
        raise DetectionFileError(
            source, f'{where}, joint {joint} ({names[joint]})',
            f'x, y, confidence = {xy[joint].tolist()}, '
            f'{float(conf[joint])!r}', f'finite pixels within +-{ABSURD:g} '
            f'and a confidence >= 0')
    missing = np.isnan(xy).any(-1) | np.isnan(conf)
    conf = np.where(missing, 0.0, np.minimum(conf, 1.0))
    return np.where(missing[..., None], 0.0, xy), conf


def layout_for(count: int, allowed: Sequence[str], source: Any,
               where: str) -> str:
    """The layout of a person with ``count`` joints, among ``allowed``."""
    layout = LAYOUT_BY_COUNT.get(count)
    if layout not in allowed:
        raise DetectionFileError(
            source, where, f'{count} joints per person',
            'one of the layouts this reader knows: ' +
            ', '.join(f'{name} ({len(LAYOUT_NAMES[name])} joints)'
                      for name in allowed) +
            f' (all layouts: {known_layouts()})')
    return layout


def flat_triplets(value: Any, source: Any, where: str,
                  allowed: Sequence[str]) -> Tuple[np.ndarray, np.ndarray,
                                                   str]:
    """A flat ``[x1, y1, c1, x2, ...]`` list -> ``(xy [J, 2], conf [J],
    layout)`` (COCO results, OpenPose, AlphaPose)."""
    flat = numbers(value, source, where, "'keypoints'")
    if flat.ndim != 1 or flat.size % 3:
        raise DetectionFileError(
            source, where, f"'keypoints' of shape {list(flat.shape)}",
            'a flat list [x1, y1, c1, x2, y2, c2, ...] (3 numbers a joint)')
    layout = layout_for(flat.size // 3, allowed, source, where)
    triplets = flat.reshape(-1, 3)
    return triplets[:, :2], triplets[:, 2], layout


def frame_order(ids: Sequence[Any]) -> Tuple[Any, ...]:
    """Frame ids in video order. Integer ids (or names that end in a
    number, ``'000012.jpg'``) span ``min..max`` with no hole, so a frame
    where nobody was detected keeps its place; other ids are sorted.
    Ids spread far wider than a video's frames (COCO's image ids of
    unrelated photos) are sorted without filling the holes, which would
    otherwise make millions of empty frames."""
    unique = sorted(set(ids), key=str)
    numbers_of = [_trailing_int(i) for i in unique]
    if unique and all(n is not None for n in numbers_of):
        by_number = dict(zip(numbers_of, unique))
        if len(by_number) == len(unique):
            lo, hi = min(by_number), max(by_number)
            if hi - lo < 10 * len(unique) + 100:
                return tuple(by_number.get(n, n)
                             for n in range(lo, hi + 1))
            return tuple(by_number[n] for n in sorted(by_number))
    return tuple(unique)


def _trailing_int(value: Any) -> Optional[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        stem = value.rsplit('.', 1)[0] if '.' in value else value
        digits = len(stem) - len(stem.rstrip('0123456789'))
        return int(stem[-digits:]) if digits else None
    return None


def check_fps(value: Any, source: Any) -> Optional[float]:
    if value is None:
        return None
    fps = numbers(value, source, "'fps'", "'fps'")
    if fps.shape != () or not np.isfinite(fps) or not 0 < fps <= 10000:
        raise DetectionFileError(source, "'fps'", f'{value!r}',
                                 'a frame rate in (0, 10000] frames/s')
    return float(fps)


def check_size(value: Any, source: Any, where: str = "'image_size'"
               ) -> Optional[Tuple[float, float]]:
    if value is None:
        return None
    size = numbers(value, source, where, 'the image size')
    if size.shape != (2,) or not np.isfinite(size).all() or \
            (size <= 0).any() or (size > ABSURD).any():
        raise DetectionFileError(source, where, f'{value!r}',
                                 'two positive numbers [w, h] in pixels')
    return float(size[0]), float(size[1])

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
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple

import numpy as np

from models.pose.infer.layouts import (
    LAYOUT_BY_COUNT,
    LAYOUT_NAMES,
    known_layouts,
)

#: a pixel coordinate (or a confidence) beyond this is not a measurement
ABSURD = 1e6
#: coordinates beyond this many image sizes (the larger of w and h) from
#: the origin are no pixels of that image: wrong units or a wrong image
#: size. It also bounds the normalised model input (about 2e4) at any
#: image size, so that garbage is blamed on the file, not the checkpoint.
MAX_EXTENT = 1e4


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


def numbers(value: Any, source: Any, where: str, what: str,
            at: Optional[Callable[[Tuple[int, ...]], str]] = None
            ) -> np.ndarray:
    """``value`` as a float64 array; refuses ragged lists, text, booleans,
    complex numbers and integers too large for a float, naming the first
    such item by ``at(index path)`` (default ``item [i][j]``). JSON
    ``null`` becomes NaN (a missing joint)."""
    # numpy would read "500" as 500 and true as 1 without a word
    if not _leaf_kinds(value) <= _NUMBERS:
        _refuse_non_number(value, source, where, what, at)
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float range: say which
        _refuse_non_number(value, source, where, what, at)
        raise
    except (TypeError, ValueError):
        raise DetectionFileError(source, where, f'{what} is ragged or holds '
                                 f'non-numbers', 'a list of numbers') \
            from None


_NUMBERS = {int, float, type(None)}
_LISTS = {list, tuple}  # JSON arrays; tuples from callers


def _leaf_kinds(value: Any) -> set:
    """The types of the items of nested lists that are no lists, level by
    level: the sets are built in C, so a well-formed file is not walked
    item by item in Python."""
    kinds, level = set(), [value]
    while level:
        here = set(map(type, level))
        kinds |= here - _LISTS
        if not here & _LISTS:
            break
        level = list(chain.from_iterable(
            level if here <= _LISTS else (v for v in level
                                          if type(v) in _LISTS)))
    return kinds


def _problem(item: Any) -> Optional[Tuple[str, str]]:
    """``(what the item is, what was expected)`` when it is no number."""
    if isinstance(item, (bool, np.bool_)):
        return 'true/false', 'numbers'
    if isinstance(item, int):
        try:
            float(item)
        except OverflowError:
            return (f'an integer too large for a float '
                    f'({len(str(abs(item)))} digits)',
                    f'numbers within +-{ABSURD:g}')
        return None
    if item is None or isinstance(item, (float, np.integer, np.floating)):
        return None
    if isinstance(item, np.ndarray):  # one dtype: one item tells, but
        # an object array (from a pickle) may mix anything
        items = item.flat if item.dtype.kind == 'O' else item.flat[:1]
        return None if item.dtype.kind in 'iuf' else next(
            filter(None, map(_problem, items)), None)
    if isinstance(item, (complex, np.complexfloating)):
        return 'complex numbers', 'real numbers'
    shown = json.dumps(item, default=repr)
    shown = shown if len(shown) <= 40 else shown[:37] + '...'
    kind = 'text (a JSON string)' if isinstance(item, (str, np.str_)) \
        else 'a JSON object' if isinstance(item, dict) \
        else f'a {type(item).__name__}'
    return f'{kind} {shown}', 'numbers'


def _leaves(value: Any) -> Iterator[Tuple[Any, Tuple[int, ...]]]:
    """Every item of nested lists that is no list, with its index path."""
    stack = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend((v, where + (i, ))
                         for i, v in reversed(list(enumerate(item))))
        else:
            yield item, where


def _refuse_non_number(value: Any, source: Any, where: str, what: str,
                       at: Optional[Callable[[Tuple[int, ...]], str]]
                       ) -> None:
    """Raise for the first item of ``value`` that is no number, if any."""
    for item, index in _leaves(value):
        problem = _problem(item)
        if problem:
            place = at(index) if at and index else \
                f"item {''.join(f'[{i}]' for i in index)}" if index else ''
            raise DetectionFileError(
                source, ', '.join(filter(None, (where, place))),
                f'{what} holds {problem[0]}', problem[1])


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


def check_extent(det: Detections) -> Detections:
    """``det`` unchanged, or an error naming the first coordinate beyond
    :data:`MAX_EXTENT` image sizes (nothing to check without a size)."""
    if det.image_size is None:
        return det
    w, h = det.image_size
    limit = MAX_EXTENT * max(w, h)
    names = LAYOUT_NAMES[det.layout]
    for f, people in enumerate(det.frames):
        for p, person in enumerate(people):
            far = np.abs(person.keypoints) > limit
            if far.any():
                joint, axis = np.argwhere(far)[0]
                raise DetectionFileError(
                    det.source, f'frame {f}, person {p}, joint {joint} '
                    f'({names[joint]}), {"xy"[axis]}',
                    f'{person.keypoints[joint, axis]:.3g}, beyond '
                    f'{limit:.3g} px ({MAX_EXTENT:g} times the {w:g} x '
                    f'{h:g} image)', 'pixel coordinates of that image: '
                    'check the units and the image size')
    return det


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

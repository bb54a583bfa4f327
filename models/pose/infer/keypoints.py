"""Keypoint files: reading and validating the 2D input of
``python -m models.pose infer``.

Input (pixels, one person, every frame of one video):

* ``.npz`` with ``keypoints`` ``[F, 17, 2]`` and optionally ``image_size``
  ``[w, h]``; the joint order comes from ``--order`` (default ``h36m``).
  Read with ``allow_pickle=False``: a file cannot run code.
* ``.json``: ``{"image_size": [w, h], "order": "h36m" | "coco",
  "keypoints": [[[x, y], ... 17 joints], ... F frames]}``; ``image_size``
  and ``order`` may instead come from ``--image-size`` / ``--order``
  (both given and different is an error rather than a silent choice).

A single frame ``[17, 2]`` is accepted as ``F = 1``. Confidence columns,
16-joint files, OpenPose's 25 joints, NaN / inf coordinates, JSON
coordinates that are not numbers (``true``, ``"500"``, ``null``, integers
too large for a float), complex arrays, coordinates more than
:data:`MAX_EXTENT` image sizes from the origin and image sizes that are
not two positive numbers are refused with one error that names the file
and what was found; nothing is written then.

``--order coco`` maps the COCO-17 detector order to Human3.6M's 17 joints
with :func:`models.pose.data.skeleton.coco_to_h36m`::

    H36M joint                      from COCO (index)
    0      pelvis                   midpoint of left_hip (11), right_hip (12)
    1-3    right hip, knee, ankle   right_hip 12, right_knee 14, right_ankle 16
    4-6    left hip, knee, ankle    left_hip 11, left_knee 13, left_ankle 15
    7      spine                    midpoint of pelvis and thorax
    8      thorax                   midpoint of shoulders (5, 6)
    9      neck/nose                nose 0
    10     head                     eye midpoint (1, 2) pushed away from the
                                    nose by the nose-to-eye offset (COCO
                                    has no head top)
    11-13  left shoulder, elbow, wrist    5, 7, 9
    14-16  right shoulder, elbow, wrist   6, 8, 10

A model trained on H36M's ground-truth 2D joints sees the derived spine
and head differently from the real ones, so expect larger errors than on
Human3.6M's own keypoints. With a 16-joint model, joint 9 (neck/nose) is
dropped after the mapping (:func:`models.pose.data.skeleton.select_joints`).
"""
import json
import zipfile
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np

from models.common.files import check_input_file
from models.pose.data.skeleton import COCO_NAMES, JOINT_NAMES_17, coco_to_h36m
from models.pose.data.windows import check_image_size

ORDERS = ('h36m', 'coco')
_JOINT_NAMES = {'h36m': JOINT_NAMES_17, 'coco': COCO_NAMES}
#: Largest coordinate accepted, in image sizes (the larger of w and h):
#: far beyond any detection, far below what overflows the float32 model
#: (about 1e19 after normalisation), so garbage is blamed on the file,
#: not on the checkpoint.
MAX_EXTENT = 1e4
_EXPECTED = ('a .npz with keypoints [F, 17, 2] or a .json {"image_size": '
             '[w, h], "keypoints": [[[x, y], ...], ...]} (pixels)')


@dataclass(frozen=True)
class Keypoints2D:
    """2D input after loading: ``[F, 17, 2]`` pixels in H36M order."""
    keypoints: np.ndarray
    image_size: Tuple[float, float]
    order: str  # the order of the file, before mapping
    source: str



def _joint_count_error(path: Path, joints: int, order: str,
                       shape: Tuple[int, ...]) -> ValueError:
    hint = ''
    if joints == 16:
        hint = (' A 16-joint file (Human3.6M without neck/nose) is not '
                'accepted: give all 17 joints; a 16-joint model drops joint '
                '9 itself.')
    elif joints == 25:
        hint = (' 25 joints look like OpenPose BODY_25: convert to the '
                'COCO-17 order and pass --order coco.')
    elif joints in (18, 133):
        hint = (' This looks like an OpenPose COCO-18 or a whole-body file: '
                'keep the 17 COCO body joints and pass --order coco.')
    return ValueError(f"{path}: expected 17 joints per frame in {order} "
                      f"order, found {joints} (keypoints shape {shape})."
                      f"{hint}")


def _check_keypoints(kp: np.ndarray, path: Path, order: str,
                     size: Tuple[float, float]) -> np.ndarray:
    """``[F, 17, 2]`` finite pixels, or a ValueError naming the problem."""
    if kp.ndim == 2:  # one frame
        kp = kp[None]
    if kp.ndim != 3 or kp.size == 0:
        raise ValueError(f"{path}: 'keypoints' must have shape [F, 17, 2] "
                         f"(frames, joints, x/y pixels) with F >= 1, got "
                         f"{kp.shape}")
    if kp.shape[-1] != 2:
        hint = (' Drop the confidence column (keep x, y).'
                if kp.shape[-1] == 3 else '')
        raise ValueError(f"{path}: 'keypoints' must hold 2 coordinates "
                         f"(x, y) per joint, found {kp.shape[-1]} (shape "
                         f"{kp.shape}).{hint}")
    if kp.shape[1] != 17:
        raise _joint_count_error(path, kp.shape[1], order, kp.shape)
    bad = ~np.isfinite(kp)
    if bad.any():
        frame, joint, _ = np.argwhere(bad)[0]
        count = int(bad.any(axis=-1).sum())
        raise ValueError(
            f"{path}: keypoints hold NaN or inf at frame {frame}, joint "
            f"{joint} ({_JOINT_NAMES[order][joint]}); {count} joint(s) in "
            f"all. Fill missing detections (e.g. interpolate) first.")
    _check_extent(kp, path, order, size)
    return kp


def _check_extent(kp: np.ndarray, path: Path, order: str,
                  size: Tuple[float, float]) -> None:
    """Refuse coordinates no image of ``size`` can hold (see
    :data:`MAX_EXTENT`)."""
    limit = MAX_EXTENT * max(size)
    far = np.abs(kp) > limit
    if far.any():
        frame, joint, axis = np.argwhere(far)[0]
        raise ValueError(
            f"{path}: keypoint {'xy'[axis]} at frame {frame}, joint {joint} "
            f"({_JOINT_NAMES[order][joint]}) is {kp[frame, joint, axis]:.3g}"
            f", beyond {limit:.3g} px ({MAX_EXTENT:g} times the "
            f"{size[0]:g} x {size[1]:g} image): not a pixel coordinate; "
            f"check the file's units and the image size")


def _leaves(value: Any) -> Iterator[Tuple[Any, Tuple[int, ...]]]:
    """Every non-list item of nested JSON lists, with its index path."""
    stack = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((v, where + (i, ))
                         for i, v in reversed(list(enumerate(item))))
        else:
            yield item, where


def _not_a_number(item: Any) -> Optional[str]:
    """Why a JSON value is no coordinate (``None`` when it is one): JSON
    ``true`` or ``"500"`` would otherwise become 1.0 or 500.0 silently."""
    if isinstance(item, bool) or item is None:
        return f"{json.dumps(item)} (not a number)"
    if isinstance(item, int):
        try:
            float(item)
        except OverflowError:
            return (f"an integer of {len(str(abs(item)))} digits, too "
                    f"large for a float")
        return None
    if isinstance(item, float):
        return None
    shown = json.dumps(item)
    shown = shown if len(shown) <= 40 else shown[:37] + '...'
    kind = {str: 'string', dict: 'object'}.get(type(item), 'value')
    return f"{shown} (a JSON {kind}, not a number)"


def _where(index: Tuple[int, ...], order: Optional[str]) -> str:
    """``frame 1, joint 0 (pelvis), x`` for a coordinate's index path in
    ``[F, 17, 2]`` (or ``[17, 2]``), else the raw ``[i][j]...``."""
    if len(index) == 2:
        index = (0, ) + index
    names = _JOINT_NAMES.get(order or 'h36m', JOINT_NAMES_17)
    if len(index) == 3 and index[1] < len(names) and index[2] < 2:
        frame, joint, axis = index
        return (f" at frame {frame}, joint {joint} ({names[joint]}), "
                f"{'xy'[axis]},")
    return ''.join(f'[{i}]' for i in index)


def _all_numbers(value: Any) -> bool:
    """Whether ``value`` is ``[F][J][2]`` lists of JSON numbers only: the
    fast check (types collected in C) that spares a well-formed file the
    item-by-item walk of :func:`_check_leaves`."""
    try:
        kinds = set(map(type, chain.from_iterable(chain.from_iterable(
            value))))
    except TypeError:  # not three levels of lists
        return False
    return kinds <= {int, float}


def _check_leaves(value: Any, path: Path, what: str,
                  order: Optional[str]) -> None:
    """The first item that is no coordinate, named by frame and joint."""
    for item, index in _leaves(value):
        problem = _not_a_number(item)
        if problem:
            hint = (' (a missing detection? fill gaps, e.g. interpolate, '
                    'first)' if item is None else '')
            raise ValueError(f"{path}: {what}{_where(index, order)} is "
                             f"{problem}{hint}; expected [F, 17, 2] pixel "
                             f"coordinates (numbers)")


def _numeric(value: Any, path: Path, what: str,
             order: Optional[str] = None) -> np.ndarray:
    if not _all_numbers(value):
        _check_leaves(value, path, what, order)
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float range: say which
        _check_leaves(value, path, what, order)
        raise
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {what} must be a rectangular array of "
                         f"numbers ([F, 17, 2]); it is ragged") from None


def _read_npz(path: Path, order: Optional[str] = None
              ) -> Tuple[np.ndarray, Any, Optional[str]]:
    with open(path, 'rb') as handle:
        magic = handle.read(4)
    if magic not in (b'PK\x03\x04', b'PK\x05\x06'):  # zip: local / empty
        raise ValueError(f"{path} is not an .npz file (no zip archive "
                         f"inside; np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if 'keypoints' not in data.files:
                raise ValueError(f"{path}: no 'keypoints' array; the file "
                                 f"has {', '.join(data.files) or 'none'}")
            kp = data['keypoints']
            size = data['image_size'] if 'image_size' in data.files \
                else None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz file: "
                         f"{err}") from None
    except ValueError as err:
        if 'allow_pickle' in str(err):
            raise ValueError(f"{path}: arrays of Python objects are refused "
                             f"(allow_pickle=False); store plain numbers")\
                from None
        raise
    if not np.issubdtype(kp.dtype, np.number) or \
            np.issubdtype(kp.dtype, np.complexfloating):  # x + iy is no pixel
        raise ValueError(f"{path}: 'keypoints' must be real numbers, got "
                         f"dtype {kp.dtype}")
    return kp.astype(np.float64), size, None


def _read_json(path: Path, order: Optional[str] = None
               ) -> Tuple[np.ndarray, Any, Optional[str]]:
    """``(keypoints, image size, order)`` of a JSON file; ``order`` (the
    command line's) only names joints in errors."""
    try:
        # utf-8-sig: a byte-order mark (as Windows editors write) is fine
        with open(path, encoding='utf-8-sig') as handle:
            doc = json.load(handle)
    except json.JSONDecodeError as err:
        what = 'is empty' if not err.doc.strip() else \
            f'is not valid JSON ({err})'
        raise ValueError(f"{path} {what}; expected {_EXPECTED}") from None
    except RecursionError:
        raise ValueError(f"{path}: the JSON is nested too deeply to read "
                         f"(expected {{\"keypoints\": [[[x, y], ...], "
                         f"...]}})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 JSON text file; expected "
                         f"{_EXPECTED}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object with 'keypoints', "
                         f"got a {type(doc).__name__}")
    if 'keypoints' not in doc:
        raise ValueError(f"{path}: no 'keypoints' entry; the object has "
                         f"{', '.join(map(repr, doc)) or 'no keys'}")
    file_order = doc.get('order')
    if file_order is not None and not isinstance(file_order, str):
        raise ValueError(f"{path}: 'order' must be one of {ORDERS}, got "
                         f"{file_order!r}")
    return (_numeric(doc['keypoints'], path, "'keypoints'",
                     file_order or order),
            doc.get('image_size'), file_order)


def _image_size(value: Any, source: str) -> Tuple[float, float]:
    """:func:`check_image_size`, with JSON integers too large for a float
    refused like any other bad size rather than raising OverflowError."""
    try:
        return check_image_size(value, source)
    except OverflowError:
        raise ValueError(f"{source}: image size must be two positive "
                         f"numbers [w, h] in pixels, got a number too large "
                         f"for a float") from None


def _resolve(file_value: Any, cli_value: Any, what: str, path: Path,
             same) -> Any:
    """One value from the file or the command line, never two that differ."""
    if file_value is not None and cli_value is not None \
            and not same(file_value, cli_value):
        raise ValueError(f"{path} says {what} is {file_value!r} but the "
                         f"command line says {cli_value!r}; drop one")
    return file_value if file_value is not None else cli_value


def load_keypoints(path: Any, order: Optional[str] = None,
                   image_size: Optional[Sequence[float]] = None
                   ) -> Keypoints2D:
    """Read and validate a keypoint file (see the module docstring).

    Args:
        path: ``.npz`` or ``.json`` file.
        order: ``'h36m'`` or ``'coco'``; a JSON file's own ``order`` wins
            when this is ``None``; default ``'h36m'``.
        image_size: ``(w, h)`` when the file has none.

    Returns:
        :class:`Keypoints2D` with ``[F, 17, 2]`` pixels in H36M order.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"keypoint file {path} is a directory, not "
                                f"a file")
    check_input_file(path, 'keypoint file', _EXPECTED)
    suffix = path.suffix.lower()
    if suffix not in ('.npz', '.json'):
        raise ValueError(f"{path}: keypoint files must be .npz or .json, "
                         f"got {suffix or 'no suffix'}")
    if order is not None and order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    kp, file_size, file_order = (_read_npz if suffix == '.npz'
                                 else _read_json)(path, order)
    if file_order is not None and file_order not in ORDERS:
        raise ValueError(f"{path}: 'order' must be one of {ORDERS}, got "
                         f"{file_order!r}")
    order = _resolve(file_order, order, 'the joint order', path,
                     lambda a, b: a == b) or 'h36m'
    if file_size is not None:
        file_size = _image_size(file_size, f"{path}: 'image_size'")
    if image_size is not None:
        image_size = _image_size(image_size, '--image-size')
    size = _resolve(file_size, image_size, 'the image size', path,
                    lambda a, b: np.allclose(a, b))
    if size is None:
        raise ValueError(f"{path} has no 'image_size'; give --image-size W H "
                         f"(pixels of the video the keypoints come from)")
    kp = _check_keypoints(kp, path, order, size)
    if order == 'coco':
        kp = coco_to_h36m(kp)
    return Keypoints2D(kp, size, order, str(path))


def plausibility_warnings(keypoints_px: np.ndarray,
                          image_size: Sequence[float]) -> list:
    """Messages for inputs that load but are probably wrong (not errors:
    a person may well step partly out of the frame)."""
    w, h = check_image_size(image_size, 'image_size')
    kp = np.asarray(keypoints_px, dtype=np.float64)
    messages = []
    if w >= 32 and np.abs(kp).max() <= 1.5:
        messages.append('the keypoints all lie within [-1.5, 1.5]: they look '
                        'normalised already, but pixels are expected')
    outside = ((kp[..., 0] < -0.1 * w) | (kp[..., 0] > 1.1 * w) |
               (kp[..., 1] < -0.1 * h) | (kp[..., 1] > 1.1 * h)).mean()
    if outside > 0.05:
        messages.append(f'{outside:.0%} of the keypoints lie well outside the '
                        f'{w:g} x {h:g} image: is the image size right?')
    return messages


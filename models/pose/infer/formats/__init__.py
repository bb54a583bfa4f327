"""Readers of 2D keypoint files, one module per format.

:func:`read_detections` reads any of them into one
:class:`~models.pose.infer.formats.common.Detections`;
:func:`detect_format` says which format a path holds, and
``format=`` (``--format`` in the command) forces one. The formats and
their confidence scales are listed in ``docs/data_formats.rst``.
"""
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from models.common.files import refuse_special_file
from models.pose.infer.formats.alphapose import read_alphapose
from models.pose.infer.formats.coco import (
    read_coco_annotations,
    read_coco_results,
)
from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_extent,
    check_fps,
    check_size,
    load_json,
)
from models.pose.infer.formats.mmpose import read_mmpose
from models.pose.infer.formats.openpose import SUFFIX, read_openpose
from models.pose.infer.formats.project import read_project
from models.pose.infer.formats.videopose3d import read_videopose3d

__all__ = ['FORMATS', 'Detections', 'DetectionFileError', 'Person',
           'detect_format', 'read_detections']


@dataclass(frozen=True)
class Format:
    """A reader and the options it takes beyond the path."""
    name: str
    read: Callable[..., Detections]
    options: Tuple[str, ...]
    summary: str


FORMATS: Dict[str, Format] = {f.name: f for f in (
    Format('project', read_project, ('order', 'image_size'),
           "this project's .json / .npz, one person (also MediaPipe)"),
    Format('coco-results', read_coco_results, (),
           'COCO keypoint results: a list of detections'),
    Format('coco-annotations', read_coco_annotations, (),
           'COCO annotation file: images + annotations'),
    Format('openpose', read_openpose, (),
           'OpenPose --write_json directory of *_keypoints.json'),
    Format('alphapose', read_alphapose, (),
           'AlphaPose alphapose-results.json'),
    Format('mmpose', read_mmpose, (),
           'MMPose predictions JSON (instance_info)'),
    Format('videopose3d', read_videopose3d, ('video',),
           "VideoPose3D's data_2d_custom_*.npz (pickled)"),
)}


def _npz_format(path: Path) -> str:
    """From the archive's member names: nothing is unpickled to decide."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        raise DetectionFileError(path, '', f'not an .npz file ({err})',
                                 'an archive written by np.savez') from None
    if 'positions_2d.npy' in names:
        return 'videopose3d'
    return 'project'


def _json_format(path: Path, doc: Any) -> str:
    if isinstance(doc, dict):
        for key, name in (('people', 'openpose'),
                          ('instance_info', 'mmpose'),
                          ('annotations', 'coco-annotations'),
                          ('keypoints', 'project')):
            if key in doc:
                return name
    first = doc[0] if isinstance(doc, list) and doc else None
    if isinstance(first, dict):
        if 'instances' in first or 'keypoint_scores' in first:
            return 'mmpose'
        if 'image_id' in first:
            alpha = any(isinstance(d, dict) and ('idx' in d or 'box' in d)
                        for d in doc)
            return 'alphapose' if alpha else 'coco-results'
    raise DetectionFileError(path, '', f'a JSON {type(doc).__name__} of no '
                             f'known keypoint format', 'one of: ' +
                             ', '.join(FORMATS))


def detect_format(path: Any) -> str:
    """The name (a key of :data:`FORMATS`) of the format ``path`` holds."""
    path = Path(path)
    if path.is_dir():
        if not any(path.glob('*' + SUFFIX)):
            raise DetectionFileError(path, '', 'a directory without '
                                     '*_keypoints.json files',
                                     "OpenPose's --write_json directory")
        return 'openpose'
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == '.npz':
        return _npz_format(path)
    if suffix != '.json':
        raise DetectionFileError(path, '', f'suffix {suffix or "(none)"}',
                                 '.json, .npz or an OpenPose directory')
    return _json_format(path, load_json(path))


def read_detections(path: Any, format: Optional[str] = None, *,
                    order: Optional[str] = None,
                    image_size: Optional[Sequence[float]] = None,
                    fps: Optional[float] = None,
                    video: Optional[str] = None) -> Detections:
    """Read ``path`` in ``format`` (default: :func:`detect_format`).

    ``image_size`` and ``fps`` fill what the file lacks; a file value that
    differs is an error. ``order`` is for the project's files, ``video``
    for VideoPose3D files with several videos."""
    path = Path(path)
    # a FIFO would block the reader, a device be read forever
    refuse_special_file(path, 'keypoint file', "a detector's keypoint file "
                        '(.json, .npz) or an OpenPose directory')
    name = format if format is not None else detect_format(path)
    if name not in FORMATS:
        raise ValueError(f"'format' must be one of {sorted(FORMATS)}, got "
                         f"{name!r}")
    given = {'order': order, 'image_size': image_size, 'video': video}
    unused = [k for k, v in given.items()
              if v is not None and k not in FORMATS[name].options
              and k != 'image_size']
    if unused:
        raise ValueError(f"{path}: format {name!r} takes no "
                         f"{', '.join(unused)} (it takes "
                         f"{', '.join(FORMATS[name].options) or 'none'})")
    reader = FORMATS[name]
    det = reader.read(path, **{k: given[k] for k in reader.options})
    # only now is the image size known that the extent is relative to
    return check_extent(_merge(det, check_size(image_size, path,
                                               '--image-size'),
                               check_fps(fps, path)))


def _merge(det: Detections, size, fps) -> Detections:
    for what, own, given in (('image size', det.image_size, size),
                             ('fps', det.fps, fps)):
        if own is not None and given is not None and \
                not np.allclose(own, given):
            raise DetectionFileError(det.source, what, f'the file says '
                                     f'{own!r}, the caller {given!r}',
                                     'one of them, or the same value')
    return replace(det, image_size=det.image_size or size,
                   fps=det.fps or fps)



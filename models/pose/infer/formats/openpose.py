"""OpenPose ``--write_json`` output: one ``<name>_keypoints.json`` per
frame, ``{"version", "people": [{"person_id": [-1],
"pose_keypoints_2d": [x, y, c] * K, ...}]}``.

``K`` is 25 for the BODY_25 model (the default; has MidHip and Neck) and
18 for the COCO model. A joint OpenPose did not find is written as
``0, 0, 0``, so its confidence is 0. ``person_id`` is ``[-1]`` unless
OpenPose tracked people; another value becomes the track id.
Confidences are in [0, 1]; OpenPose draws joints above 0.05
(``--render_threshold``), which lets many false ones through, hence the
default threshold of 0.1 here.
"""
from pathlib import Path
from typing import Any, List, Optional, Tuple

from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_values,
    flat_triplets,
    frame_order,
    load_json,
)
from models.pose.infer.layouts import LAYOUT_NAMES

CONFIDENCE_THRESHOLD = 0.1
SUFFIX = '_keypoints.json'


def frame_files(path: Path) -> List[Path]:
    """The per-frame files of an OpenPose output directory, in frame
    order (by the number before ``_keypoints.json``)."""
    if path.is_file():
        return [path]
    files = {f.name[:-len(SUFFIX)]: f for f in path.glob('*' + SUFFIX)}
    if not files:
        raise DetectionFileError(path, '', 'no *_keypoints.json file',
                                 "OpenPose's --write_json directory")
    return [files[stem] for stem in frame_order(list(files))
            if stem in files]


def _people(doc: Any, path: Path, layouts: set) -> Tuple[Person, ...]:
    if not isinstance(doc, dict) or not isinstance(doc.get('people'), list):
        raise DetectionFileError(path, '', f'{doc!r:.80}',
                                 "an object with a 'people' list")
    people = []
    for n, entry in enumerate(doc['people']):
        where = f'person {n}'
        if not isinstance(entry, dict) or 'pose_keypoints_2d' not in entry:
            raise DetectionFileError(path, where, f'{entry!r:.80}',
                                     "an object with 'pose_keypoints_2d'")
        xy, conf, layout = flat_triplets(entry['pose_keypoints_2d'], path,
                                         where, ('body25', 'coco18'))
        layouts.add(layout)
        xy, conf = check_values(xy, conf, path, where, LAYOUT_NAMES[layout])
        people.append(Person(xy, conf, _person_id(entry, path, where)))
    return tuple(people)


def _person_id(entry: dict, path: Path, where: str) -> Optional[int]:
    pid = entry.get('person_id', [-1])
    pid = pid[0] if isinstance(pid, list) and len(pid) == 1 else pid
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise DetectionFileError(path, where, f"person_id {pid!r}",
                                 'an integer (or [-1])')
    return None if pid == -1 else pid


def read_openpose(path: Path) -> Detections:
    files = frame_files(path)
    layouts: set = set()
    frames = tuple(_people(load_json(f), f, layouts) for f in files)
    if len(layouts) > 1:
        raise DetectionFileError(path, '', f'frames in several layouts '
                                 f'{sorted(layouts)}', 'one OpenPose model')
    if not layouts:
        raise DetectionFileError(path, '', f'{len(files)} frame(s) and '
                                 f'nobody in them', 'at least one person')
    return Detections(frames, layouts.pop(), str(path), 'openpose',
                      CONFIDENCE_THRESHOLD,
                      frame_ids=tuple(f.name for f in files))

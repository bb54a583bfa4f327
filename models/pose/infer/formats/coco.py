"""COCO keypoint files: detector results and annotation files.

*Results* (what ``COCOeval`` reads and most top-down detectors write): a
JSON list of ``{"image_id", "category_id", "keypoints": [x, y, v] * 17,
"score"}``; ``v`` is the detector's keypoint score in [0, 1]. *Annotation
files*: ``{"images": [{"id", "width", "height", ...}], "annotations":
[{"image_id", "keypoints", "num_keypoints", ...}], ...}``; there ``v`` is
a flag, 0 = not labelled, 1 = labelled but hidden, 2 = visible, so the
confidence is 1 for any labelled joint and 0 otherwise.

Frames follow the image ids (sorted; integer ids span min..max so that
an image without a detection is an empty frame).
"""
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_size,
    check_values,
    flat_triplets,
    frame_order,
    load_json,
)
from models.pose.infer.layouts import LAYOUT_NAMES

#: scores of 0-1 detectors: below 0.3 a keypoint is usually a guess
#: (the threshold MMPose's and Detectron2's visualisers default to)
SCORE_THRESHOLD = 0.3


def person_entries(doc: Any, path: Path, allowed: Sequence[str],
                   key: str = 'image_id', with_track: bool = False):
    """``(image ids, people, layout)`` from a list of COCO-style entries."""
    if not isinstance(doc, list) or not doc:
        raise DetectionFileError(path, '', f'a {type(doc).__name__}'
                                 + (' (empty)' if doc == [] else ''),
                                 'a non-empty JSON list of detections')
    ids, people, layouts = [], [], set()
    for n, entry in enumerate(doc):
        where = f'detection {n}'
        if not isinstance(entry, dict) or key not in entry or \
                'keypoints' not in entry:
            seen = sorted(entry) if isinstance(entry, dict) else entry
            raise DetectionFileError(path, where, f'{seen!r:.80}',
                                     f"an object with '{key}' and "
                                     f"'keypoints'")
        where = f'detection {n} ({key} {entry[key]!r})'
        xy, conf, layout = flat_triplets(entry['keypoints'], path, where,
                                         allowed)
        layouts.add(layout)
        xy, conf = check_values(xy, conf, path, where, LAYOUT_NAMES[layout])
        track = _track_id(entry, path, where) if with_track else None
        ids.append(entry[key])
        people.append(Person(xy, conf, track))
    if len(layouts) > 1:
        raise DetectionFileError(path, '', f'people in several layouts '
                                 f'{sorted(layouts)}', 'one layout per file')
    return ids, people, layouts.pop()


def _track_id(entry: Dict[str, Any], path: Path, where: str):
    """AlphaPose's ``idx`` (an int, or a one-element list in some
    versions); ``None`` when tracking was off."""
    idx = entry.get('idx', entry.get('track_id'))
    if isinstance(idx, list) and len(idx) == 1:
        idx = idx[0]
    if idx is None:
        return None
    if isinstance(idx, float) and idx.is_integer():
        idx = int(idx)
    if isinstance(idx, bool) or not isinstance(idx, int):
        raise DetectionFileError(path, where, f"track id 'idx' {idx!r}",
                                 'an integer')
    return idx


def group_frames(ids: List[Any], people: List[Person]):
    """``(frame ids, frames)``: the people of each frame, in video order."""
    by_id = defaultdict(list)
    for image_id, person in zip(ids, people):
        by_id[image_id].append(person)
    order = frame_order(ids)
    return order, tuple(tuple(by_id.get(i, ())) for i in order)


def read_coco_results(path: Path) -> Detections:
    ids, people, layout = person_entries(load_json(path), path, ('coco',))
    order, frames = group_frames(ids, people)
    return Detections(frames, layout, str(path), 'coco-results',
                      SCORE_THRESHOLD, frame_ids=order)


def read_coco_annotations(path: Path) -> Detections:
    doc = load_json(path)
    images = doc.get('images') if isinstance(doc, dict) else None
    if not isinstance(images, list) or not images or \
            not isinstance(doc.get('annotations'), list):
        raise DetectionFileError(path, '', 'no images or no annotations',
                                 "{'images': [...], 'annotations': [...]}")
    size = _one_size(images, path)
    ids, people, layout = person_entries(doc['annotations'], path,
                                         ('coco',))
    # v is a flag: 1 (hidden) and 2 (visible) are both labelled positions
    people = [Person(p.keypoints, (p.confidence > 0).astype(np.float64))
              for p in people]
    by_id = defaultdict(list)
    for image_id, person in zip(ids, people):
        by_id[image_id].append(person)
    order = sorted((_image_id(im, path, n) for n, im in enumerate(images)),
                   key=lambda i: (str(type(i)), i))
    frames = tuple(tuple(by_id.get(i, ())) for i in order)
    return Detections(frames, layout, str(path), 'coco-annotations', 0.5,
                      size, frame_ids=tuple(order))


def _image_id(image: Any, path: Path, n: int) -> Any:
    if not isinstance(image, dict) or 'id' not in image:
        raise DetectionFileError(path, f'images[{n}]', f'{image!r:.80}',
                                 "an object with 'id', 'width', 'height'")
    return image['id']


def _one_size(images: List[dict], path: Path):
    """The image size shared by all images (one video), or an error."""
    sizes = {check_size([im.get('width'), im.get('height')], path,
                        f"images[{n}] width/height")
             for n, im in enumerate(images)}
    if len(sizes) > 1:
        raise DetectionFileError(path, 'images', f'sizes {sorted(sizes)}',
                                 'one image size (the frames of one video)')
    return sizes.pop()

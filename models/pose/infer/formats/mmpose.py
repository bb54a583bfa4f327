"""MMPose predictions (``--save-predictions`` of the demos, or the
inferencer's ``pred_out_dir`` files).

``{"meta_info": {...}, "instance_info": [{"frame_id": 1, "instances":
[{"keypoints": [[x, y], ...], "keypoint_scores": [...], "bbox": ...,
"track_id": 3}]}]}``; a bare list of such frames, or (one image) a bare
list of instances, is accepted too. ``track_id`` is there only when the
tracker ran. Scores are heatmap or SimCC confidences, about [0, 1]
(peaks a little above 1 are clipped); 17 joints (COCO) or 26 (Halpe).
"""
from pathlib import Path
from typing import Any, List

import numpy as np

from models.pose.infer.formats.coco import SCORE_THRESHOLD, _track_id
from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
    check_values,
    frame_order,
    layout_for,
    load_json,
    numbers,
)
from models.pose.infer.layouts import LAYOUT_NAMES

ALLOWED = ('coco', 'halpe26')


def _frames_of(doc: Any, path: Path) -> List[dict]:
    if isinstance(doc, dict) and 'instance_info' in doc:
        doc = doc['instance_info']
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and \
            'keypoints' in doc[0]:
        doc = [{'frame_id': 0, 'instances': doc}]  # one image
    if not isinstance(doc, list) or not doc or not all(
            isinstance(f, dict) and isinstance(f.get('instances'), list)
            for f in doc):
        raise DetectionFileError(path, '', f'{doc!r:.80}',
                                 "{'instance_info': [{'frame_id', "
                                 "'instances': [...]}, ...]}")
    return doc


def _person(entry: Any, path: Path, where: str, layouts: set) -> Person:
    if not isinstance(entry, dict) or 'keypoints' not in entry:
        raise DetectionFileError(path, where, f'{entry!r:.80}',
                                 "an instance with 'keypoints'")
    xy = numbers(entry['keypoints'], path, where, "'keypoints'")
    if xy.ndim == 3 and xy.shape[0] == 1:
        xy = xy[0]  # some versions keep a leading instance axis
    if xy.ndim != 2 or xy.shape[-1] != 2:
        raise DetectionFileError(path, where, f"'keypoints' of shape "
                                 f"{list(xy.shape)}", '[[x, y], ...]')
    layout = layout_for(len(xy), ALLOWED, path, where)
    scores = entry.get('keypoint_scores', np.ones(len(xy)))
    conf = numbers(scores, path, where, "'keypoint_scores'").reshape(-1)
    if conf.shape != (len(xy),):
        raise DetectionFileError(path, where, f'{conf.size} scores for '
                                 f'{len(xy)} joints', 'one score a joint')
    layouts.add(layout)
    xy, conf = check_values(xy, conf, path, where, LAYOUT_NAMES[layout])
    return Person(xy, conf, _track_id(entry, path, where))


def read_mmpose(path: Path) -> Detections:
    frames_in = _frames_of(load_json(path), path)
    layouts: set = set()
    by_id = {}
    for n, frame in enumerate(frames_in):
        fid = frame.get('frame_id', n)
        by_id[fid] = tuple(
            _person(entry, path, f'frame_id {fid!r}, instance {i}', layouts)
            for i, entry in enumerate(frame['instances']))
    if len(layouts) != 1:
        raise DetectionFileError(path, '', f'layouts {sorted(layouts)}',
                                 'people in exactly one layout')
    order = frame_order(list(by_id))
    return Detections(tuple(by_id.get(i, ()) for i in order), layouts.pop(),
                      str(path), 'mmpose', SCORE_THRESHOLD, frame_ids=order)

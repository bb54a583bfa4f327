"""AlphaPose results (``alphapose-results.json``).

A JSON list with one entry per detected person: ``{"image_id":
"12.jpg", "category_id": 1, "keypoints": [x, y, score] * K, "score",
"box", "idx"}``. ``K`` is 17 for the COCO models and 26 for the Halpe
models (head top, neck, hip and the feet added). ``idx`` is the track id
when tracking (``--pose_track`` / PoseFlow) was on. Scores are in [0, 1].
"""
from pathlib import Path

from models.pose.infer.formats.coco import (
    SCORE_THRESHOLD,
    group_frames,
    person_entries,
)
from models.pose.infer.formats.common import Detections, load_json


def read_alphapose(path: Path) -> Detections:
    ids, people, layout = person_entries(load_json(path), path,
                                         ('coco', 'halpe26'),
                                         with_track=True)
    order, frames = group_frames(ids, people)
    return Detections(frames, layout, str(path), 'alphapose',
                      SCORE_THRESHOLD, frame_ids=order)

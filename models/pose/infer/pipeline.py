"""From a detector's file to model input, and from model output to a
:class:`~models.pose.infer.writers.PoseSequence`: the steps of
:mod:`~models.pose.infer.formats`, :mod:`~models.pose.infer.tracks` and
:mod:`~models.pose.infer.resample` in order, without the model.

``prepare(path, ...)`` returns one :class:`Prepared` per chosen track
(step by step, on a file already read: :func:`tracks_of` then
:func:`prepare_track`). Its ``model_keypoints`` ``[F', J, 2]`` (pixels,
at the model's frame rate) go to
:func:`models.pose.infer.lift.infer_poses`; ``finish(prep, poses)``
brings the ``[F', J, 3]`` result back to one pose per input frame of the
track.
"""
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from models.pose.data.skeleton import get_skeleton
from models.pose.infer.formats import Detections, read_detections
from models.pose.infer.resample import (
    MODEL_FPS,
    resample_sequence,
    to_input_frames,
)
from models.pose.infer.tracks import (
    MAX_GAP,
    FilledTrack,
    Track,
    build_tracks,
    fill_gaps,
    map_to_h36m,
    select_tracks,
)
from models.pose.infer.writers import PoseSequence


@dataclass(frozen=True)
class Prepared:
    """One track ready for the model."""
    track: FilledTrack  # at the input's frames, H36M joints
    model_keypoints: np.ndarray  # [F', J, 2] pixels at model_fps
    image_size: Tuple[float, float]
    fps: float
    model_fps: float
    source: str


def check_known(det: Detections) -> Detections:
    """``det`` if it has an image size and a frame rate, else an error
    naming the option that supplies the missing one."""
    for what, value, option in (('image size', det.image_size,
                                 'image_size (--image-size W H)'),
                                ('frame rate', det.fps, 'fps (--fps)')):
        if value is None:
            raise ValueError(f"{det.source}: the file gives no {what}; "
                             f"expected it from {option}")
    return det


def tracks_of(det: Detections, joints: int = 17,
              min_confidence: Optional[float] = None
              ) -> Tuple[List[Track], float]:
    """Every track of ``det`` in the Human3.6M joints, and the confidence
    threshold used (``min_confidence``, default the format's)."""
    threshold = det.min_confidence if min_confidence is None \
        else float(min_confidence)
    return build_tracks(map_to_h36m(det, joints), threshold), threshold


def prepare_track(det: Detections, track: Track, threshold: float,
                  max_gap: int = MAX_GAP,
                  model_fps: float = MODEL_FPS) -> Prepared:
    """One track of ``det`` with its gaps filled, at ``model_fps``."""
    check_known(det)
    names = get_skeleton(track.keypoints.shape[1]).names
    filled = fill_gaps(track, threshold, max_gap, names)
    kp, _, _ = resample_sequence(filled.keypoints, filled.confidence,
                                 filled.filled, det.fps, model_fps)
    return Prepared(filled, kp, det.image_size, det.fps, float(model_fps),
                    det.source)


def prepare(path: Any, *, format: Optional[str] = None, joints: int = 17,
            which: Union[str, int] = 'longest',
            min_confidence: Optional[float] = None, max_gap: int = MAX_GAP,
            fps: Optional[float] = None,
            image_size: Optional[Sequence[float]] = None,
            order: Optional[str] = None, video: Optional[str] = None,
            model_fps: float = MODEL_FPS) -> List[Prepared]:
    """Read ``path`` and prepare the chosen track(s) for lifting.

    ``fps`` and ``image_size`` are needed where the file lacks them;
    ``min_confidence`` defaults to the format's threshold."""
    det = read_detections(path, format, order=order, image_size=image_size,
                          fps=fps, video=video)
    check_known(det)
    tracks, threshold = tracks_of(det, joints, min_confidence)
    return [prepare_track(det, track, threshold, max_gap, model_fps)
            for track in select_tracks(tracks, which)]


def finish(prep: Prepared, poses_model: np.ndarray,
           joints: Optional[int] = None) -> PoseSequence:
    """The lifted ``[F', J, 3]`` poses as one pose per input frame."""
    track = prep.track
    joints = joints or track.keypoints.shape[1]
    skeleton = get_skeleton(joints)
    poses = to_input_frames(poses_model, prep.model_fps, prep.fps,
                            track.length)
    return PoseSequence(poses, skeleton.names, skeleton.parents,
                        keypoints_2d=track.keypoints,
                        confidence=track.confidence, filled=track.filled,
                        long_gap=track.long_gap, frames=track.frames,
                        fps=prep.fps, image_size=prep.image_size)

"""People over time: tracks, the choice of one, and filled gaps.

1. :func:`map_to_h36m` maps every person to the Human3.6M joints
   (:mod:`models.pose.infer.layouts`).
2. :func:`build_tracks` links people across frames: by the file's track
   ids where every person has one, else by a simple tracker (greedy
   matching of the boxes around the confident joints by IoU, or by the
   distance of their centres when the boxes do not overlap). A person
   absent from a whole frame ends its track there, and a later sighting
   starts a new one: frames are never invented for a person who was not
   seen. A person with no joint at or above ``min_confidence`` counts as
   absent.
3. :func:`select_tracks`: the longest track (default), those of one id,
   or all.
4. :func:`fill_gaps`: joints below ``min_confidence`` (or missing) are
   interpolated linearly in time within the track; at the track's ends
   the nearest confident value is held. Gaps of up to ``max_gap`` frames
   are ordinary; longer ones are still filled (the model needs every
   joint) but flagged in ``long_gap``.

Default thresholds follow each detector's confidence scale
(``Detections.min_confidence``, see ``docs/data_formats.rst``): 0.3 for
0-1 keypoint scores (COCO results, AlphaPose, MMPose, VideoPose3D, the
project's files), 0.1 for OpenPose (its scores run lower: it draws from
0.05), 0.5 for MediaPipe's visibility (its own drawing threshold) and
for COCO annotation flags (labelled = 1). ``max_gap`` defaults to 10
frames (0.2-0.4 s at 25-50 fps): about as long as a straight line
between two poses stays believable.
"""
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from models.pose.data.skeleton import get_skeleton
from models.pose.infer.formats.common import (
    DetectionFileError,
    Detections,
    Person,
)
from models.pose.infer.layouts import LAYOUT_NAMES, to_h36m

MAX_GAP = 10
IOU_THRESHOLD = 0.1


@dataclass(frozen=True)
class Track:
    """One person over consecutive frames ``start .. start + L - 1``."""
    track_id: int
    start: int
    keypoints: np.ndarray  # [L, J, 2] pixels
    confidence: np.ndarray  # [L, J]

    @property
    def length(self) -> int:
        return len(self.keypoints)

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.length)


@dataclass(frozen=True)
class FilledTrack(Track):
    """A track whose every joint has a value; ``confidence`` is the
    reader's (0 where missing), ``filled`` marks interpolated joints and
    ``long_gap`` those in a gap longer than ``max_gap`` frames."""
    filled: np.ndarray = None  # [L, J] bool
    long_gap: np.ndarray = None  # [L, J] bool


def map_to_h36m(det: Detections, joints: int = 17) -> Detections:
    """Every person of ``det`` in the Human3.6M order (17 or 16 joints)."""
    def person(p: Person) -> Person:
        kp, conf = to_h36m(p.keypoints, p.confidence, det.layout, joints)
        return Person(kp, conf, p.track_id)
    frames = tuple(tuple(person(p) for p in frame) for frame in det.frames)
    return replace(det, frames=frames, layout='h36m' if joints == 17
                   else 'h36m16')


def _box(person: Person, min_confidence: float) -> Optional[np.ndarray]:
    """``[x0, y0, x1, y1]`` around the confident joints, or ``None``."""
    seen = person.keypoints[person.confidence >= min_confidence]
    if not len(seen):
        return None
    return np.concatenate([seen.min(0), seen.max(0)])


def _match_scores(a: np.ndarray, b: np.ndarray) -> tuple:
    """``(IoU, -centre distance / mean box diagonal)``, each ``[P, T]``,
    of boxes ``a`` ``[P, 4]`` against boxes ``b`` ``[T, 4]``."""
    a, b = a[:, None], b[None]
    inter = np.prod(np.clip(np.minimum(a[..., 2:], b[..., 2:]) -
                            np.maximum(a[..., :2], b[..., :2]), 0, None), -1)
    size_a, size_b = a[..., 2:] - a[..., :2], b[..., 2:] - b[..., :2]
    union = np.prod(size_a, -1) + np.prod(size_b, -1) - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    diag = 0.5 * (np.hypot(*np.moveaxis(size_a, -1, 0)) +
                  np.hypot(*np.moveaxis(size_b, -1, 0)))
    centre = 0.5 * ((a[..., :2] + a[..., 2:]) - (b[..., :2] + b[..., 2:]))
    # at least 1 px: a one-joint "box" has no diagonal
    return iou, -np.hypot(*np.moveaxis(centre, -1, 0)) / np.maximum(diag,
                                                                    1.0)


def _greedy(previous: Dict[int, np.ndarray], boxes: List[np.ndarray],
            threshold: float) -> Dict[int, int]:
    """person index -> track of the previous frame, best pairs first: a
    pair is accepted with IoU >= ``threshold``, or with centres closer
    than half a box diagonal (small or thin boxes barely overlap)."""
    if not boxes or not previous:
        return {}
    ids = list(previous)
    iou, closeness = _match_scores(np.stack(boxes),
                                   np.stack([previous[t] for t in ids]))
    ok = (iou >= threshold) | (closeness > -0.5)
    taken: Dict[int, int] = {}
    for flat in np.lexsort((-closeness.ravel(), -iou.ravel())):
        i, t = divmod(int(flat), len(ids))
        if ok[i, t] and i not in taken and ids[t] not in taken.values():
            taken[i] = ids[t]
    return taken


def _tracker_labels(det: Detections, min_confidence: float,
                    threshold: float) -> List[List[Optional[int]]]:
    """A track label for every person of every frame (None: absent)."""
    labels, previous, count = [], {}, 0
    for frame in det.frames:
        boxes = [_box(p, min_confidence) for p in frame]
        present = [i for i, b in enumerate(boxes) if b is not None]
        match = _greedy(previous, [boxes[i] for i in present], threshold)
        row: List[Optional[int]] = [None] * len(frame)
        for k, i in enumerate(present):
            if k not in match:
                match[k], count = count, count + 1
            row[i] = match[k]
        labels.append(row)
        previous = {match[k]: boxes[i] for k, i in enumerate(present)}
    return labels


def _file_labels(det: Detections, min_confidence: float
                 ) -> List[List[Optional[int]]]:
    labels = []
    for f, frame in enumerate(det.frames):
        ids = [p.track_id for p in frame]
        repeated = {i for i in ids if ids.count(i) > 1}
        if repeated:
            raise DetectionFileError(det.source, f'frame {f}', f'track id(s)'
                                     f' {sorted(repeated)} on two people',
                                     'one person per track id and frame')
        labels.append([p.track_id if (p.confidence >= min_confidence).any()
                       else None for p in frame])
    return labels


def _runs(det: Detections, labels) -> List[Track]:
    """Cut each label's frames into runs of consecutive frames."""
    where: Dict[int, List[tuple]] = {}
    for f, (frame, row) in enumerate(zip(det.frames, labels)):
        for person, label in zip(frame, row):
            if label is not None:
                where.setdefault(label, []).append((f, person))
    tracks = []
    for label, seen in where.items():
        frames = np.array([f for f, _ in seen])
        cuts = np.flatnonzero(np.diff(frames) > 1) + 1
        for part in np.split(np.arange(len(seen)), cuts):
            people = [seen[k][1] for k in part]
            tracks.append(Track(
                label, int(frames[part[0]]),
                np.stack([p.keypoints for p in people]),
                np.stack([p.confidence for p in people])))
    return sorted(tracks, key=lambda t: (t.start, t.track_id))


def build_tracks(det: Detections, min_confidence: Optional[float] = None,
                 iou_threshold: float = IOU_THRESHOLD) -> List[Track]:
    """Tracks of ``det`` (see the module docstring), by start frame."""
    threshold = det.min_confidence if min_confidence is None \
        else float(min_confidence)
    labels = _file_labels(det, threshold) if det.has_track_ids \
        else _tracker_labels(det, threshold, iou_threshold)
    tracks = _runs(det, labels)
    if not tracks:
        best = max((float(p.confidence.max()) for f in det.frames
                    for p in f if p.confidence.size), default=None)
        raise DetectionFileError(
            det.source, '', f'no person with a joint at confidence >= '
            f'{threshold:g} in {det.num_frames} frame(s) (highest seen: '
            f'{best})', 'at least one confident joint; lower '
            'min_confidence if the detector scores low')
    return tracks


def select_tracks(tracks: Sequence[Track],
                  which: Union[str, int] = 'longest') -> List[Track]:
    """``'longest'`` (ties: the earliest), ``'all'``, or a track id."""
    if which == 'longest':
        return [max(tracks, key=lambda t: (t.length, -t.start))]
    if which == 'all':
        return list(tracks)
    if isinstance(which, bool) or not isinstance(which, (int, np.integer)):
        raise ValueError(f"'which' must be 'longest', 'all' or a track id, "
                         f"got {which!r}")
    chosen = [t for t in tracks if t.track_id == which]
    if not chosen:
        raise ValueError(f"'which': no track {which}; the tracks are "
                         f"{sorted({t.track_id for t in tracks})}")
    return chosen


def _gap_lengths(missing: np.ndarray) -> np.ndarray:
    """``[L, J]``: the length of the gap each missing entry lies in."""
    inv = missing.T  # [J, L]: each joint's runs along a row
    before = np.pad(inv, ((0, 0), (1, 0)))[:, :-1]
    ids = np.cumsum((inv & ~before).ravel()).reshape(inv.shape) * inv
    return np.bincount(ids.ravel())[ids].T * missing


def fill_gaps(track: Track, min_confidence: float, max_gap: int = MAX_GAP,
              names: Optional[Sequence[str]] = None) -> FilledTrack:
    """``track`` with every joint below ``min_confidence`` interpolated."""
    if isinstance(max_gap, bool) or not isinstance(max_gap, int) \
            or max_gap < 0:
        raise ValueError(f"'max_gap' must be an int >= 0, got {max_gap!r}")
    missing = ~(track.confidence >= min_confidence)
    never = np.flatnonzero(missing.all(axis=0))
    if never.size:
        names = names or _names(track.keypoints.shape[1])
        raise ValueError(
            f"track {track.track_id} (frames {track.start}-"
            f"{track.start + track.length - 1}): joint(s) "
            f"{', '.join(names[j] for j in never)} never reach confidence "
            f"{min_confidence:g}; expected each joint seen at least once "
            f"(lower min_confidence, or pick another track)")
    t = np.arange(track.length)
    kp = track.keypoints.copy()
    for j in np.flatnonzero(missing.any(axis=0)):  # one np.interp a joint
        ok = ~missing[:, j]
        for c in range(2):
            kp[:, j, c] = np.interp(t, t[ok], track.keypoints[ok, j, c])
    return FilledTrack(track.track_id, track.start, kp,
                       track.confidence.copy(), missing,
                       _gap_lengths(missing) > max_gap)


def _names(joints: int) -> Sequence[str]:
    if joints in (16, 17):
        return get_skeleton(joints).names
    return next((n for n in LAYOUT_NAMES.values() if len(n) == joints),
                [str(j) for j in range(joints)])

"""Tracks: linking people, splitting at absences, choosing, filling."""
import numpy as np
import pytest

from models.pose.infer.formats import DetectionFileError, Detections, Person
from models.pose.infer.tracks import (
    build_tracks,
    fill_gaps,
    map_to_h36m,
    select_tracks,
)


def _person(x, y, conf=0.9, track=None, joints=17):
    kp = np.stack([x + np.arange(joints) * 2.0,
                   y + np.arange(joints) * 3.0], axis=-1)
    return Person(kp, np.full(joints, conf), track)


def _det(frames, layout='h36m'):
    return Detections(tuple(tuple(f) for f in frames), layout, 'mem.json',
                      'test', 0.3)


def test_tracker_follows_two_people_that_swap_order_in_the_file():
    frames = [[_person(0 + f, 0), _person(500 - f, 0)] for f in range(4)]
    frames[2].reverse()
    tracks = build_tracks(_det(frames))
    assert [t.length for t in tracks] == [4, 4]
    left = next(t for t in tracks if t.keypoints[0, 0, 0] == 0)
    np.testing.assert_allclose(left.keypoints[:, 0, 0], [0, 1, 2, 3])


def test_an_absent_frame_splits_the_track_and_invents_nothing():
    frames = [[_person(0, 0)], [_person(1, 0)], [], [_person(2, 0)],
              [_person(3, 0, conf=0.1)], [_person(4, 0)]]
    tracks = build_tracks(_det(frames))
    assert [(t.start, t.length) for t in tracks] == [(0, 2), (3, 1), (5, 1)]
    assert select_tracks(tracks)[0].start == 0


def test_file_track_ids_win_and_a_missing_frame_splits_them():
    frames = [[_person(0, 0, track=7), _person(900, 0, track=3)],
              [_person(900, 0, track=7)],  # the id jumps: trust the file
              [_person(0, 0, track=3)], [_person(0, 0, track=7)]]
    tracks = build_tracks(_det(frames))
    by_id = {}
    for t in tracks:
        by_id.setdefault(t.track_id, []).append((t.start, t.length))
    assert by_id == {7: [(0, 2), (3, 1)], 3: [(0, 1), (2, 1)]}
    assert [t.start for t in select_tracks(tracks, 7)] == [0, 3]
    assert len(select_tracks(tracks, 'all')) == 4
    with pytest.raises(ValueError, match=r'no track 5; the tracks are '
                       r'\[3, 7\]'):
        select_tracks(tracks, 5)


def test_a_repeated_track_id_in_a_frame_is_an_error():
    frames = [[_person(0, 0, track=1), _person(50, 0, track=1)]]
    with pytest.raises(DetectionFileError, match=r'frame 0: track id\(s\) '
                       r'\[1\] on two people'):
        build_tracks(_det(frames))


def test_nothing_confident_is_a_clear_error():
    frames = [[_person(0, 0, conf=0.05)], []]
    with pytest.raises(DetectionFileError, match=r'confidence >= 0.3 in 2 '
                       r'frame\(s\) \(highest seen: 0.05\)'):
        build_tracks(_det(frames))
    assert build_tracks(_det(frames), min_confidence=0.01)


def test_fill_gaps_interpolates_holds_ends_and_flags_long_gaps():
    kp = np.zeros((8, 17, 2))
    kp[:, :, 0] = np.arange(8)[:, None] * 10.0
    kp[:, :, 1] = np.arange(17) * 5.0  # a tall box the tracker can follow
    conf = np.ones((8, 17))
    conf[2:4, 5] = 0.0  # a 2-frame gap
    conf[0, 6] = 0.0  # the first frame: held from frame 1
    conf[1:7, 7] = 0.0  # 6 frames
    kp[conf == 0] = -999.0  # what a detector leaves: garbage
    track = build_tracks(_det([[Person(kp[f], conf[f])]
                               for f in range(8)]))[0]
    out = fill_gaps(track, 0.3, max_gap=5)
    np.testing.assert_allclose(out.keypoints[2:4, 5, 0], [20, 30])
    np.testing.assert_allclose(out.keypoints[0, 6], [10, 30])
    np.testing.assert_allclose(out.keypoints[1:7, 7, 0], np.arange(1, 7) * 10)
    assert out.filled.sum() == 2 + 1 + 6
    assert (out.long_gap == (out.filled & (np.arange(17) == 7))).all()
    assert out.confidence[2, 5] == 0.0


def test_a_joint_never_seen_in_the_track_is_named():
    conf = np.ones(17)
    conf[3] = 0.0
    track = build_tracks(_det([[Person(np.zeros((17, 2)), conf)]]))[0]
    with pytest.raises(ValueError, match='right_ankle never reach'):
        fill_gaps(track, 0.3)


def test_map_to_h36m_uses_the_layout_table():
    coco = _person(0, 0, joints=17)
    det = map_to_h36m(_det([[coco]], layout='coco'))
    kp = det.frames[0][0].keypoints
    np.testing.assert_allclose(kp[0], coco.keypoints[11:13].mean(0))
    assert det.layout == 'h36m'
    assert map_to_h36m(_det([[coco]], 'coco'), 16).frames[0][0] \
        .keypoints.shape == (16, 2)


@pytest.mark.parametrize('dx, same', [
    (10.0, True),   # the boxes overlap: IoU
    (40.0, True),   # a thin box that moved off itself: close centres
    (400.0, False),  # a jump across the image: somebody else
])
def test_tracker_links_by_overlap_or_near_centres(dx, same):
    # a 20 x 90 px box of joints; its second-frame copy moved by dx
    kp = np.stack([np.arange(17) % 2 * 20.0, np.linspace(0, 90, 17)], -1)
    frames = [[Person(kp, np.ones(17))], [Person(kp + [dx, 0], np.ones(17))]]
    assert (len(build_tracks(_det(frames))) == 1) == same

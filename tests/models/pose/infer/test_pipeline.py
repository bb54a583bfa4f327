"""The whole path without a model: file -> tracks -> 50 fps -> back ->
writer; a stand-in "model" that lifts each 2D pose to z = 0 shows that
every input frame gets its own pose back."""
import json

import numpy as np
import pytest

from models.pose.infer.pipeline import finish, prepare
from models.pose.infer.writers import write_poses


def _openpose(folder, frames=30, missing_frame=None):
    folder.mkdir()
    for f in range(frames):
        people = []
        if f != missing_frame:
            flat = []
            for j in range(25):
                flat += [100.0 + 3 * f + j, 50.0 + 8 * j, 0.8]
            if f == 4:
                flat[3 * 4 + 2] = 0.0  # BODY_25 4: right wrist, lost
            people.append({'person_id': [-1], 'pose_keypoints_2d': flat})
        (folder / f'v_{f:012d}_keypoints.json').write_text(
            json.dumps({'version': 1.3, 'people': people}))
    return folder


def _flat_lift(kp):
    """A stand-in model: the 2D pose at depth 0, in 'metres'."""
    return np.concatenate([kp, np.zeros(kp.shape[:-1] + (1,))], -1) / 1000


def test_openpose_at_25_fps_round_trips_to_the_input_frames(tmp_path):
    preps = prepare(_openpose(tmp_path / 'op'), fps=25,
                    image_size=(640, 480))
    assert len(preps) == 1
    prep = preps[0]
    assert prep.model_keypoints.shape == (59, 17, 2)  # 30 at 25 -> 50 fps
    seq = finish(prep, _flat_lift(prep.model_keypoints))
    assert seq.poses_3d.shape == (30, 17, 3)
    np.testing.assert_allclose(seq.poses_3d[..., :2] * 1000,
                               prep.track.keypoints, atol=1e-9)
    right_wrist = 16
    assert seq.filled[4, right_wrist] and seq.filled.sum() == 1
    out = write_poses(tmp_path / 'o.npz', seq)
    with np.load(out) as data:
        assert data['filled'][4, right_wrist]


def test_an_absent_frame_gives_two_tracks_and_the_longest_wins(tmp_path):
    folder = _openpose(tmp_path / 'op', frames=20, missing_frame=6)
    preps = prepare(folder, fps=50, image_size=(640, 480), which='all')
    assert [p.track.start for p in preps] == [0, 7]
    longest = prepare(folder, fps=50, image_size=(640, 480))
    assert longest[0].track.start == 7 and longest[0].track.length == 13


@pytest.mark.parametrize('kwargs, message', [
    ({'image_size': (640, 480)}, r'no frame rate; expected it from fps'),
    ({'fps': 25}, r'no image size; expected it from image_size'),
])
def test_missing_rate_or_size_is_asked_for(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare(_openpose(tmp_path / 'op', frames=3), **kwargs)

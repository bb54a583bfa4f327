"""Frame-rate conversion for lifting and back."""
import numpy as np
import pytest

from models.pose.infer.resample import (
    output_times,
    resample_sequence,
    to_input_frames,
)


def _linear(frames, fps, joints=3):
    """Keypoints moving linearly in time: resampling must be exact."""
    t = np.arange(frames) / fps
    kp = np.stack([np.outer(t, np.arange(1, joints + 1)) * 100,
                   np.outer(t, np.ones(joints)) * -50 + 7], axis=-1)
    return kp, t


@pytest.mark.parametrize('fps_in, frames, expected', [
    (25, 5, 9), (50, 5, 5), (30, 4, 6), (60, 7, 6), (24, 1, 1)])
def test_output_frame_counts(fps_in, frames, expected):
    times = output_times(frames, fps_in, 50)
    assert len(times) == expected
    assert times[-1] <= (frames - 1) / fps_in + 1e-12


@pytest.mark.parametrize('fps_in', [25.0, 30.0, 50.0, 60.0, 29.97])
def test_linear_motion_survives_the_round_trip(fps_in):
    kp, _ = _linear(40, fps_in)
    conf, flags = np.ones(kp.shape[:2]), np.zeros(kp.shape[:2], bool)
    out, _, _ = resample_sequence(kp, conf, flags, fps_in, 50)
    expected, _ = _linear(len(out), 50.0)
    np.testing.assert_allclose(out, expected, atol=1e-9)
    poses = np.concatenate([out, out[..., :1]], axis=-1)  # [F', J, 3]
    back = to_input_frames(poses, 50, fps_in, 40)
    assert back.shape == (40, 3, 3)
    inside = np.arange(40) / fps_in <= (len(out) - 1) / 50 + 1e-12
    np.testing.assert_allclose(back[inside, :, :2], kp[inside], atol=1e-9)


def test_confidence_is_the_min_and_flags_the_or_of_the_sources():
    kp = np.zeros((3, 1, 2))
    conf = np.array([[0.9], [0.2], [0.8]])
    flags = np.array([[False], [True], [False]])
    _, c, f = resample_sequence(kp, conf, flags, 25, 50)
    np.testing.assert_allclose(c[:, 0], [0.9, 0.2, 0.2, 0.2, 0.8])
    assert f[:, 0].tolist() == [False, True, True, True, False]


def test_same_rate_is_the_identity():
    kp = np.random.default_rng(0).normal(size=(6, 17, 2))
    out, _, _ = resample_sequence(kp, np.ones((6, 17)),
                                  np.zeros((6, 17), bool), 50, 50)
    np.testing.assert_array_equal(out, kp)


@pytest.mark.parametrize('kwargs, message', [
    ({'fps_in': 0}, "'fps_in' must be a positive"),
    ({'fps_in': float('nan')}, "'fps_in'"),
    ({'fps_in': True}, "'fps_in'"),
    ({'num_frames': 0}, "'num_frames' must be an int >= 1"),
])
def test_bad_rates_are_refused(kwargs, message):
    args = {'num_frames': 5, 'fps_in': 25, 'fps_out': 50, **kwargs}
    with pytest.raises(ValueError, match=message):
        output_times(**args)


def test_back_mapping_checks_the_frame_count():
    with pytest.raises(ValueError, match='10 frames at 25 fps make 19'):
        to_input_frames(np.zeros((5, 17, 3)), 50, 25, 10)

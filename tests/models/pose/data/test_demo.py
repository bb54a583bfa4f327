"""The demo set's construction steps (no pybullet needed)."""
import numpy as np

from models.pose.data import demo
from models.pose.data.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS


def test_clips_are_filmed_with_the_calibrations_of_their_split():
    clips = [{'name': f'clip{i}'} for i in range(8)]
    calibrations = demo._calibrations(clips, {'clip1', 'clip4', 'clip6'})
    assert calibrations == ['S1', 'S9', 'S5', 'S6', 'S11', 'S7', 'S9', 'S8']
    assert {calibrations[i] for i in (1, 4, 6)} == set(TEST_SUBJECTS)
    assert set(TRAIN_SUBJECTS).isdisjoint(TEST_SUBJECTS)


def test_detector_noise():
    kp = np.random.default_rng(0).uniform(0, 1000, (4, 200, 17, 2))
    np.testing.assert_array_equal(
        demo.detector_noise(kp, 0.0, np.random.default_rng(1)), kp)
    noisy = demo.detector_noise(kp, 2.0, np.random.default_rng(1))
    again = demo.detector_noise(kp, 2.0, np.random.default_rng(1))
    np.testing.assert_array_equal(noisy, again)  # the seed decides
    error = np.linalg.norm(noisy - kp, axis=-1)
    assert 1.0 < np.median(error) < 10.0

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


def test_the_demo_holds_a_new_body_split_and_old_files_are_rebuilt(
        tmp_path, prepared):
    from models.pose.data.format import load_prepared, save_prepared

    path = tmp_path / 'demo.npz'
    prepared.meta['provenance'] = {'demo_version': demo.DEMO_VERSION - 1}
    save_prepared(path, prepared)
    assert demo.ensure_demo(path) == path  # an old demo file: rebuilt
    data = load_prepared(path)
    assert data.meta['provenance']['demo_version'] == demo.DEMO_VERSION == 3
    assert data.extra_test_splits == {'new-body': ['NB-small', 'NB-tall']}
    by_subject = {}
    for i, seq in enumerate(data.sequences):
        by_subject.setdefault(seq['subject'], []).append(i)
    assert sorted(by_subject) == ['NB-small', 'NB-tall', 'test', 'train']
    # every test clip, once per body, with the test clips' frame counts
    test_lengths = sorted(data.sequences[i]['length']
                          for i in by_subject['test'])
    for body in ('NB-small', 'NB-tall'):
        assert sorted(data.sequences[i]['length']
                      for i in by_subject[body]) == test_lengths
    # the new cameras are none of the training (or test) cameras
    new = data.camera_t[by_subject['NB-small']].reshape(-1, 3)
    old = data.camera_t[by_subject['train'] + by_subject['test']].reshape(
        -1, 3)
    assert np.linalg.norm(new[:, None] - old[None], axis=-1).min() > 1.0

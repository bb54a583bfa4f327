"""The simple baselines reported beside every evaluation."""
import json

import numpy as np
import pytest

from models.pose.data.loader import PoseWindows
from models.pose.evaluate.baselines import (
    LinearLift,
    MeanPose,
    NearestNeighbour,
    fit_baselines,
)


def test_linear_lift_equals_least_squares_without_ridge(prepared):
    windows = PoseWindows(prepared, subjects=prepared.train_subjects)
    fitted = LinearLift.fit(windows, ridge=0.0, flip_augment=False)
    inputs, targets = windows.centre_frames(np.arange(len(windows)))
    x = (inputs[:, 1:] - inputs[:, :1]).reshape(len(inputs), -1)
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1).astype(np.float64)
    y = targets.reshape(len(targets), -1).astype(np.float64)
    reference, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(x @ fitted.weights, x @ reference, atol=1e-6)


def test_baselines_predict_root_relative_poses_and_linear_beats_mean(
        prepared):
    windows = PoseWindows(prepared, subjects=prepared.train_subjects)
    inputs, targets = windows.centre_frames(np.arange(len(windows)))
    fits = fit_baselines(windows)
    errors = {}
    for name, baseline in fits.items():
        pred = baseline.predict(inputs)
        assert pred.shape == targets.shape
        np.testing.assert_allclose(pred[:, 0], 0.0, atol=1e-6)
        errors[name] = np.linalg.norm(pred - targets, axis=-1).mean()
    # the mean pose is one of the linear map's solutions (zero slopes)
    assert errors['linear 2D->3D'] < errors['mean pose']


def test_mean_pose_is_the_training_mean(prepared):
    windows = PoseWindows(prepared, subjects=prepared.train_subjects)
    _, targets = windows.centre_frames(np.arange(len(windows)))
    np.testing.assert_allclose(MeanPose.fit(windows).mean_pose,
                               targets.mean(axis=0), atol=1e-6)


def test_portions_split_sequences_without_sharing_a_frame(prepared):
    # tag every frame so that no two frames hold the same keypoints
    tags = np.arange(len(prepared.positions_3d), dtype=np.float32)
    prepared.keypoints_2d['gt'] += tags[None, :, None, None] * 1e-2
    head = PoseWindows(prepared, frames=5, subjects=['S1'],
                       portion=(0.0, 0.8))
    tail = PoseWindows(prepared, frames=5, subjects=['S1'],
                       portion=(0.8, 1.0))
    whole = PoseWindows(prepared, frames=5, subjects=['S1'])
    assert len(head) + len(tail) == len(whole) == 30 * 4
    # windows of the head never reach into the tail: every input frame of
    # a head window is one of the head's own frames
    head_inputs, _ = head.get_batch(np.arange(len(head)))
    tail_inputs, _ = tail.get_batch(np.arange(len(tail)))
    head_frames = {f.tobytes() for f in head_inputs.reshape(-1, 17, 2)}
    tail_frames = {f.tobytes() for f in tail_inputs.reshape(-1, 17, 2)}
    assert not head_frames & tail_frames
    with pytest.raises(ValueError, match='portion'):
        PoseWindows(prepared, subjects=['S1'], portion=(0.5, 0.5))


def test_evaluation_reports_baselines_beside_the_model(tmp_path,
                                                       prepared_file):
    from models.pose.data.format import load_prepared
    from models.pose.evaluate.scoring import (
        evaluate_checkpoint,
        predict_windows,
    )
    from models.pose.nn.checkpoint import load_for_inference
    from models.pose.nn.config import preset_config
    from models.pose.train.loop import TrainConfig, train

    cfg = TrainConfig(epochs=1, batch_size=16, val_fraction=0.2)
    train(preset_config('tiny'), cfg, prepared_file, tmp_path / 'run',
          progress=False)
    results = evaluate_checkpoint(tmp_path / 'run' / 'best.pt',
                                  prepared_file, tmp_path / 'run',
                                  pictures=False, val_fraction=0.2)
    saved = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    methods = saved['baselines']['methods']
    assert set(methods) == {'mean pose', 'linear 2D->3D',
                            'nearest neighbour'}
    assert saved['baselines']['fitted_on']['portion'] == [0.0, 0.8]
    assert saved['baselines']['model_vs_linear_mpjpe'] == pytest.approx(
        results['average']['mpjpe'] / methods['linear 2D->3D']['mpjpe'])
    assert 'linear 2D->3D' in (tmp_path / 'run' / 'metrics.md').read_text()
    # predictions are root-relative with the root exactly at zero
    model, config = load_for_inference(tmp_path / 'run' / 'best.pt')
    data = load_prepared(prepared_file)
    windows = PoseWindows(data, frames=config['frames'], subjects=['S9'])
    assert np.abs(predict_windows(model, windows)[:, 0]).max() == 0.0


def test_nearest_neighbour_returns_the_training_pose_of_a_training_input(
        prepared):
    windows = PoseWindows(prepared, subjects=prepared.train_subjects)
    inputs, targets = windows.centre_frames(np.arange(len(windows)))
    fitted = NearestNeighbour.fit(windows)
    found = fitted.neighbours(inputs)
    # the toy tracks are periodic (a sequence's first and last frames are
    # the same pose), so a neighbour may be a twin: same 2D, same 3D
    np.testing.assert_array_equal(inputs[found], inputs)
    assert (found == np.arange(len(inputs))).mean() > 0.9
    np.testing.assert_array_equal(fitted.predict(inputs), targets)


def test_nearest_neighbour_beats_the_mean_pose_on_held_out_views(prepared):
    train = PoseWindows(prepared, subjects=prepared.train_subjects)
    test = PoseWindows(prepared, subjects=prepared.test_subjects)
    inputs, targets = test.centre_frames(np.arange(len(test)))
    fits = fit_baselines(train)
    errors = {name: np.linalg.norm(fit.predict(inputs) - targets,
                                   axis=-1).mean()
              for name, fit in fits.items()}
    assert errors['nearest neighbour'] < 0.8 * errors['mean pose'], errors


def test_nearest_neighbour_chunks_give_the_one_chunk_answer(prepared):
    train = PoseWindows(prepared, subjects=prepared.train_subjects)
    fitted = NearestNeighbour.fit(train)
    rng = np.random.default_rng(0)
    queries = rng.normal(0.0, 0.3, (97, 17, 2)).astype(np.float32)
    whole = fitted.neighbours(queries, chunk_bytes=10 ** 9)
    # one query per chunk (the floor), and chunks of 7 rows
    for chunk in (1, 7 * 8 * len(fitted.database)):
        np.testing.assert_array_equal(fitted.neighbours(queries, chunk),
                                      whole)
    # the exact search: brute force over every database row
    q = (queries[:, 1:] - queries[:, :1]).reshape(97, -1)
    brute = ((q[:, None] - fitted.database[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(whole, brute)


def test_nearest_neighbour_subsamples_large_training_sets(prepared):
    windows = PoseWindows(prepared, subjects=prepared.train_subjects)
    fitted = NearestNeighbour.fit(windows, limit=10)
    assert len(fitted.database) == len(fitted.poses) == 10
    with pytest.raises(ValueError, match='same, non-zero'):
        NearestNeighbour(np.zeros((3, 32)), np.zeros((2, 17, 3)))


def _file_with_new_body_split(tmp_path):
    """The fixture's layout plus a fourth subject, S11, held out as an
    extra test split 'new-body' (neither trained nor in the test split)."""
    from models.pose.data.format import save_prepared
    from tests.models.pose.conftest import make_prepared
    data = make_prepared(lengths=(30, 25, 20, 22),
                         subjects=('S1', 'S5', 'S9', 'S11'))
    data.meta['train_subjects'] = ['S1', 'S5']
    data.meta['extra_test_splits'] = {'new-body': ['S11']}
    return save_prepared(tmp_path / 'split.npz', data)


def test_evaluation_reports_every_extra_split_with_baselines(tmp_path,
                                                             capsys):
    from models.pose.evaluate.scoring import evaluate_checkpoint
    from models.pose.nn.config import preset_config
    from models.pose.train.loop import TrainConfig, train

    path = _file_with_new_body_split(tmp_path)
    train(preset_config('tiny'), TrainConfig(epochs=1, batch_size=16),
          path, tmp_path / 'run', progress=False)
    results = evaluate_checkpoint(tmp_path / 'run' / 'best.pt', path,
                                  tmp_path / 'run', pictures=False)
    saved = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    # the standard split stays at the top level for existing readers
    assert saved['subjects'] == ['S9'] and saved['num_samples'] == 20 * 4
    assert set(saved['splits']) == {'new-body'}
    split = saved['splits']['new-body']
    assert split['subjects'] == ['S11'] and split['num_samples'] == 22 * 4
    assert set(split['baselines']['methods']) == {
        'mean pose', 'linear 2D->3D', 'nearest neighbour'}
    assert split['average']['mpjpe'] != saved['average']['mpjpe']
    assert split == results['splits']['new-body']
    printed = capsys.readouterr().out
    markdown = (tmp_path / 'run' / 'metrics.md').read_text()
    for text in (printed, markdown):
        assert "Test split 'new-body': subjects S11 (88 poses)" in text
        assert text.count('nearest neighbour') == 2  # one per split
        assert f"{split['average']['mpjpe']:.1f}" in text


def test_a_file_without_extra_splits_has_none(tmp_path, prepared_file):
    from models.pose.evaluate.scoring import evaluate_checkpoint
    from models.pose.nn.config import preset_config
    from models.pose.train.loop import TrainConfig, train

    train(preset_config('tiny'), TrainConfig(epochs=1, batch_size=16),
          prepared_file, tmp_path / 'run', progress=False)
    results = evaluate_checkpoint(tmp_path / 'run' / 'best.pt',
                                  prepared_file, tmp_path / 'run',
                                  pictures=False)
    assert results['splits'] == {}
    assert 'Test split' not in (tmp_path / 'run' / 'metrics.md').read_text()

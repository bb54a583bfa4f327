"""Causal models (``train --causal``): every window predicts its last frame,
so no output reads a frame after the one it is for; the flag travels with
the checkpoint and every consumer follows it."""
import dataclasses

import numpy as np
import pytest
import torch

from models.pose.__main__ import main as cli
from models.pose.data import augment as aug
from models.pose.data.loader import PoseWindows
from models.pose.data.windows import (
    centred_window_indices,
    target_position,
    target_window_indices,
)
from models.pose.evaluate.scoring import evaluate_checkpoint, predict_windows
from models.pose.infer import lift as infer
from models.pose.infer.streaming import StreamingLifter
from models.pose.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_for_inference,
    save_checkpoint,
)
from models.pose.nn.config import ModelConfig, causal_of
from tests.models.pose.deploy._onnx_models import checkpoint_of, tiny_model

W, H = 1000, 1000


def _stream(frames=12, seed=0):
    return np.random.default_rng(seed).uniform(200, 800, (frames, 17, 2))


# -- windows ------------------------------------------------------------------

def test_causal_windows_end_at_their_target_and_pad_the_start():
    got = target_window_indices(np.arange(6), 3, 0, 5, causal=True)
    np.testing.assert_array_equal(got, [[0, 0, 0], [0, 0, 1], [0, 1, 2],
                                        [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    centred = target_window_indices(np.arange(6), 3, 0, 5)
    np.testing.assert_array_equal(centred[[0, 5]], [[0, 0, 1], [4, 5, 5]])
    np.testing.assert_array_equal(
        centred, centred_window_indices(np.arange(6), 3, 0, 5))
    assert target_position(9) == 4 and target_position(9, True) == 8
    # the bounds are per window, as for the centred windows
    np.testing.assert_array_equal(
        target_window_indices(np.array([5, 7]), 3, np.array([0, 6]),
                              np.array([5, 9]), causal=True),
        [[3, 4, 5], [6, 6, 7]])
    np.testing.assert_array_equal(infer.window_indices(4, 5, causal=True),
                                  [[0] * 5, [0, 0, 0, 0, 1],
                                   [0, 0, 0, 1, 2], [0, 0, 1, 2, 3]])


def test_causal_pose_windows_predict_their_last_frame(prepared):
    common = dict(frames=5, subjects=prepared.train_subjects)
    causal = PoseWindows(prepared, causal=True, **common)
    centred = PoseWindows(prepared, **common)
    rows = np.arange(len(causal))
    idx = causal.window_indices(rows)
    assert causal.target_index == 4 and centred.target_index == 2
    np.testing.assert_array_equal(idx[:, -1], centred.window_indices(rows)
                                  [:, 2])  # the same target frames
    assert (idx[:, :-1] <= idx[:, -1:]).all()  # nothing after the target
    np.testing.assert_array_equal(idx[0], [0] * 5)  # the start, padded
    np.testing.assert_array_equal(idx[29], [25, 26, 27, 28, 29])
    np.testing.assert_array_equal(idx[30], [30] * 5)  # the next view
    inputs, targets = causal.get_batch(rows)
    np.testing.assert_array_equal(targets, centred.get_batch(rows)[1])
    np.testing.assert_array_equal(inputs[:, -1],
                                  causal.centre_frames(rows)[0])


def test_augmented_causal_windows_keep_the_last_frame_as_target(prepared):
    windows = PoseWindows(prepared, frames=5, causal=True,
                          subjects=prepared.train_subjects)
    options = aug.GeometricAugment(virtual_cameras=False, probability=1.0,
                                   bone_scale=(1.0, 1.0 + 1e-12))
    (inputs, targets), = windows.iterate_batches(len(windows),
                                                  shuffle=False,
                                                  augment=options)
    real_inputs, real_targets = windows.get_batch(np.arange(len(windows)))
    np.testing.assert_allclose(inputs.numpy(), real_inputs, atol=1e-5)
    np.testing.assert_allclose(targets.numpy(), real_targets, atol=1e-5)


# -- no output reads the future -----------------------------------------------

def _future_changed(kp, t):
    """``kp`` with every frame after ``t`` moved."""
    changed = kp.copy()
    changed[t + 1:] += np.random.default_rng(1).uniform(-80, 80,
                                                        changed[t + 1:].shape)
    return changed


@pytest.mark.parametrize('causal', [True, False])
def test_infer_poses_of_a_causal_model_ignore_later_frames(causal):
    model, kp, t = tiny_model(causal=causal), _stream(), 6
    before = infer.infer_poses(model, kp, (W, H), frames=3)
    after = infer.infer_poses(model, _future_changed(kp, t), (W, H),
                              frames=3)
    assert np.abs(after[t + 1:] - before[t + 1:]).max() > 1e-3
    if causal:
        np.testing.assert_array_equal(after[:t + 1], before[:t + 1])
    else:  # the check can fail: the centred frame t reads frame t + 1
        assert np.abs(after[t] - before[t]).max() > 1e-3


@pytest.mark.parametrize('causal', [True, False])
def test_evaluation_windows_of_a_causal_model_ignore_later_frames(prepared,
                                                                  causal):
    model, t = tiny_model(causal=causal), 8
    seq = prepared.sequences[2]  # S9, the test subject; camera 0 first
    start, length = int(seq['start']), int(seq['length'])

    def predict(data):
        windows = PoseWindows(data, frames=3, subjects=['S9'],
                              causal=causal)
        return predict_windows(model, windows, flip_test=True)[:length]

    before = predict(prepared)
    moved = prepared.keypoints_2d['gt'].copy()
    moved[0, start:start + length] = _future_changed(
        moved[0, start:start + length], t)
    after = predict(dataclasses.replace(
        prepared, keypoints_2d={'gt': moved}))
    assert np.abs(after[t + 1:] - before[t + 1:]).max() > 1e-3
    if causal:
        np.testing.assert_array_equal(after[:t + 1], before[:t + 1])
    else:
        assert np.abs(after[t] - before[t]).max() > 1e-3


def test_evaluate_checkpoint_scores_the_causal_windows(tmp_path, prepared,
                                                       prepared_file):
    model = tiny_model(causal=True)
    results = evaluate_checkpoint(checkpoint_of(tmp_path, model),
                                  prepared_file, tmp_path / 'eval',
                                  pictures=False, flip_test=False)
    assert results['model_config']['causal'] is True
    windows = PoseWindows(prepared, frames=3, subjects=['S9'], causal=True)
    pred = predict_windows(model, windows, flip_test=False)
    error = np.linalg.norm(pred - windows.get_batch(
        np.arange(len(windows)))[1], axis=-1).mean() * 1000
    assert results['average']['mpjpe'] == pytest.approx(error, rel=1e-4)


# -- the live stream ----------------------------------------------------------

def test_streaming_a_causal_model_answers_each_frame_on_arrival():
    model, kp = tiny_model(causal=True), _stream()
    offline = infer.infer_poses(model, kp, (W, H), frames=3)
    lifter = StreamingLifter(model, 3, (W, H))
    assert lifter.delay_frames == 0 and lifter.causal
    for n, frame in enumerate(kp):
        pose = lifter.push(frame)
        assert pose is not None  # frame n's pose, as soon as it arrives
        np.testing.assert_allclose(pose, offline[n], atol=1e-6)
    assert lifter.flush() == []


def test_streaming_refuses_a_lookahead_or_a_contradiction_for_causal():
    model = tiny_model(causal=True)
    with pytest.raises(ValueError, match=r"'lookahead' must be an int in "
                       r"\[0, 0\] for a 3-frame causal window, got 1 "
                       r"\(a causal model reads no frame after"):
        StreamingLifter(model, 3, (W, H), lookahead=1)
    with pytest.raises(ValueError, match="trained causal"):
        StreamingLifter(model, 3, (W, H), causal=False)
    with pytest.raises(ValueError, match="trained centred"):
        infer.infer_poses(tiny_model(), _stream(), (W, H), 3, causal=True)
    # a centred model keeps its delay; a stand-in without a config can say
    assert StreamingLifter(tiny_model(), 3, (W, H)).delay_frames == 1
    assert causal_of(torch.nn.Identity(), True) is True


# -- the checkpoint carries it ------------------------------------------------

def test_old_checkpoints_load_as_centred_and_causal_round_trips(tmp_path):
    model = tiny_model()
    config = model.config.to_dict()
    del config['causal']  # as written before the key existed
    old = tmp_path / 'old.pt'
    save_checkpoint(old, {'model': model.state_dict(),
                          'model_config': config})
    loaded, _ = load_for_inference(old)
    assert loaded.config.causal is False
    assert StreamingLifter(loaded, 3, (W, H)).delay_frames == 1
    (tmp_path / 'c').mkdir()
    causal, _ = load_for_inference(checkpoint_of(tmp_path / 'c',
                                                 tiny_model(causal=True)))
    assert causal.config.causal is True
    bad = tmp_path / 'bad.pt'
    save_checkpoint(bad, {'model': model.state_dict(),
                          'model_config': {**config, 'causal': 'yes'}})
    with pytest.raises(CheckpointError, match="'causal' must be a bool, "
                       "got str 'yes'"):
        load_for_inference(bad)
    with pytest.raises(ValueError, match="'causal' must be a bool"):
        ModelConfig(causal=1)


def test_train_causal_flag_reaches_the_checkpoint(tmp_path, prepared_file,
                                                  capsys):
    out = tmp_path / 'run'
    argv = ['train', '--preset', 'tiny', '--data', str(prepared_file),
            '--out', str(out), '--batch-size', '16', '--epochs', '1',
            '--max-steps-per-epoch', '2', '--no-progress', '--no-evaluate']
    assert cli(argv + ['--causal']) == 0
    assert load_checkpoint(out / 'best.pt')['model_config']['causal'] is True
    capsys.readouterr()
    # resuming it as a centred model would change what it learns to predict
    assert cli(argv + ['--resume', '--epochs', '2']) != 0
    assert 'causal=True (expected False)' in capsys.readouterr().err


def test_onnx_file_of_the_other_kind_is_refused(tmp_path):
    pytest.importorskip('onnxruntime')
    from models.pose.deploy.export import export_bytes
    from models.pose.deploy.predictor import predictor_for
    path = tmp_path / 'causal.onnx'
    path.write_bytes(export_bytes(tiny_model(causal=True)))
    centred = tiny_model().config.to_dict()
    with pytest.raises(ValueError, match=r"exported from a causal model "
                       r"\(causal=True\); the checkpoint's is centred"):
        predictor_for(path, centred)
    predictor = predictor_for(path, {**centred, 'causal': True})
    assert causal_of(predictor) is True

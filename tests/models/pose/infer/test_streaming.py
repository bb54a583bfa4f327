"""Frame-by-frame lifting equals the offline windows it promises."""
import numpy as np
import pytest
import torch

from models.pose.infer import lift as infer
from models.pose.infer.streaming import StreamingLifter
from models.pose.nn.config import ModelConfig
from models.pose.nn.model import MLPGraphWJ

W, H = 1000, 1000


def _model(frames=5):
    torch.manual_seed(0)
    return MLPGraphWJ(ModelConfig(frames=frames, layers=1, channels=16,
                                  hidden=32))


def _stream(frames=11, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(200, 800, (frames, 17, 2))


def test_full_lookahead_equals_offline_inference():
    model, kp = _model(), _stream()
    offline = infer.infer_poses(model, kp, (W, H), frames=5)
    lifter = StreamingLifter(model, 5, (W, H))
    assert lifter.delay_frames == 2
    out = [lifter.push(frame) for frame in kp]
    assert out[:2] == [None, None]  # waiting for the first lookahead
    streamed = np.stack(out[2:] + lifter.flush())
    np.testing.assert_allclose(streamed, offline, atol=1e-6)
    assert np.all(streamed[:, 0] == 0)


def test_zero_lookahead_equals_offline_on_the_stream_so_far():
    model, kp = _model(), _stream(8)
    lifter = StreamingLifter(model, 5, (W, H), lookahead=0)
    for n, frame in enumerate(kp):
        pose = lifter.push(frame)
        cut = infer.infer_poses(model, kp[:n + 1], (W, H), frames=5)[n]
        np.testing.assert_allclose(pose, cut, atol=1e-6)
    assert lifter.flush() == []


def test_stream_shorter_than_the_window():
    model, kp = _model(), _stream(2)
    lifter = StreamingLifter(model, 5, (W, H))
    assert [lifter.push(frame) for frame in kp] == [None, None]
    np.testing.assert_allclose(
        np.stack(lifter.flush()),
        infer.infer_poses(model, kp, (W, H), frames=5), atol=1e-6)


@pytest.mark.parametrize('kwargs, frame, words', [
    (dict(frames=4), None, 'positive odd'),
    (dict(frames=5, lookahead=3), None, r'\[0, 2\]'),
    (dict(frames=5, lookahead=-1), None, r'\[0, 2\]'),
    (dict(frames=5), np.zeros((17, 3)), r'\[J, 2\]'),
    (dict(frames=5), np.full((17, 2), np.nan), 'NaN'),
])
def test_bad_settings_and_frames(kwargs, frame, words):
    with pytest.raises(ValueError, match=words):
        lifter = StreamingLifter(_model(), image_size=(W, H), **kwargs)
        lifter.push(frame)


def test_joint_count_may_not_change_mid_stream():
    lifter = StreamingLifter(_model(), 5, (W, H))
    lifter.push(np.zeros((17, 2)) + 500)
    with pytest.raises(ValueError, match='16 joints'):
        lifter.push(np.zeros((16, 2)) + 500)

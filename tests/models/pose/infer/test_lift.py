import numpy as np
import pytest
import torch
from torch import nn

from models.pose.data.windows import normalize_keypoints
from models.pose.infer import lift as infer
from tests.models.pose._infer_helpers import CentreModel, H, W, fake_kp


def test_window_indices_edge_padding():
    np.testing.assert_array_equal(infer.window_indices(5, 3), [
        [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 4]])
    np.testing.assert_array_equal(infer.window_indices(4, 1),
                                  [[0], [1], [2], [3]])
    # window longer than the sequence: edges repeated on both sides
    np.testing.assert_array_equal(infer.window_indices(2, 5), [
        [0, 0, 0, 1, 1], [0, 0, 1, 1, 1]])
    with pytest.raises(ValueError, match="'frames'"):
        infer.window_indices(3, 0)


def test_infer_poses_windows_batches_and_mode():
    kp = fake_kp(frames=7)
    model = CentreModel().train()
    poses = infer.infer_poses(model, kp, (W, H), frames=3, batch_size=2)
    assert poses.shape == (7, 17, 3) and poses.dtype == np.float32
    norm = normalize_keypoints(kp, (W, H))
    # the output is made root-relative: joint 0 at exactly zero
    np.testing.assert_allclose(poses[..., :2], norm - norm[:, :1], atol=1e-6)
    # z: mean x over frames (f-1, f, f+1), edge frames repeated
    padded = norm[[0] + list(range(7)) + [6], :, 0]
    expected = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    np.testing.assert_allclose(poses[..., 2], expected - expected[:, :1],
                               atol=1e-6)
    assert np.all(poses[:, 0] == 0)
    assert model.modes == [False] * 4  # 4 batches, all in eval mode
    assert model.training  # mode given back
    same = infer.infer_poses(CentreModel(), kp, (W, H), 3, batch_size=256)
    np.testing.assert_allclose(same, poses)


def test_infer_poses_with_the_real_model_in_train_mode():
    # BatchNorm in train mode would fail on a batch of one window:
    # infer_poses must switch to eval for the call.
    from models.pose.nn.config import ModelConfig
    from models.pose.nn.model import MLPGraphWJ
    model = MLPGraphWJ(ModelConfig(frames=3, layers=1, channels=16,
                                   hidden=32)).train()
    poses = infer.infer_poses(model, fake_kp(4), (W, H), 3, batch_size=1)
    assert poses.shape == (4, 17, 3) and np.isfinite(poses).all()
    assert np.all(poses[:, 0] == 0)  # root-relative, root exactly at zero
    assert model.training


def test_infer_poses_rejects_wrong_model_output():
    class Bad(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 16, 3)
    with pytest.raises(ValueError, match='model returned shape'):
        infer.infer_poses(Bad(), fake_kp(2), (W, H), 1)

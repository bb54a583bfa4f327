"""Stand-ins shared by the inference tests (test_infer, test_infer_cli,
test_keypoint_io)."""
import numpy as np
import torch
from torch import nn

W, H = 1000.0, 500.0


class CentreModel(nn.Module):
    """Stand-in with the checkpoint model's contract: [B, T, J, 2] ->
    [B, J, 3]. Returns the centre frame's 2D as x, y and the window's mean
    x as z, so tests can see which frames each window held."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(1)  # a parameter (device) and a mode
        self.modes = []

    def forward(self, x):
        assert x.dtype == torch.float32 and x.ndim == 4
        assert not torch.is_grad_enabled()
        self.modes.append(self.training)
        centre = x[:, x.shape[1] // 2]
        return torch.cat([centre, x[..., :1].mean(dim=1)], dim=-1)


def fake_kp(frames=6, joints=17, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([0, 0], [W, H], size=(frames, joints, 2))

"""The shared batched forward pass: eval mode, root-relative, flip TTA."""
import numpy as np
import pytest
import torch
from torch import nn

from models.pose.data.skeleton import H36M_17
from models.pose.data.windows import flip_poses
from models.pose.nn.predict import predict_root_relative
from tests.models.pose._infer_helpers import CentreModel


def test_root_relative_per_batch_and_mode_given_back():
    model = CentreModel().train()
    batches = [np.random.default_rng(0).normal(size=(b, 3, 17, 2))
               .astype(np.float32) for b in (2, 1)]
    out = predict_root_relative(model, batches, torch.device('cpu'))
    assert [tuple(o.shape) for o in out] == [(2, 17, 3), (1, 17, 3)]
    assert all((o[:, 0] == 0).all() for o in out)
    assert model.modes == [False, False] and model.training


def test_flip_averaging_of_a_flip_equivariant_model_changes_nothing():
    perm = H36M_17.flip_permutation

    class Equivariant(nn.Module):
        def forward(self, x):
            centre = x[:, x.shape[1] // 2]
            return torch.cat([centre, torch.zeros_like(centre[..., :1])], -1)

    x = torch.randn(4, 3, 17, 2)
    plain, = predict_root_relative(Equivariant(), [x], torch.device('cpu'))
    flipped, = predict_root_relative(Equivariant(), [x], torch.device('cpu'),
                                     perm)
    torch.testing.assert_close(flipped, plain)
    assert flip_poses(flip_poses(x, perm), perm).equal(x)


def test_wrong_output_shape_is_named():
    class Bad(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 16, 3)
    with pytest.raises(ValueError, match=r"the model returned shape "
                       r"\(1, 16, 3\) for input \(1, 1, 17, 2\); expected "
                       r"\(1, 17, 3\)"):
        predict_root_relative(Bad(), [torch.zeros(1, 1, 17, 2)],
                              torch.device('cpu'))

import numpy as np
import pytest
import torch

from models.pose.train.loss import loss_eq11


def test_loss_eq11_hand_computed():
    pred = torch.zeros(2, 2, 3)
    target = torch.zeros(2, 2, 3)
    pred[0, 0] = torch.tensor([1.0, 2.0, 2.0])  # |.|^2 = 9, |.|_1 = 5
    pred[1, 1] = torch.tensor([0.0, -3.0, 0.0])  # 9, 3
    lam = 0.25
    expected = (1 - lam) * (9 + 9) / 4 + lam * (5 + 3) / 4
    loss = loss_eq11(pred, target, lam=lam)
    assert float(loss) == pytest.approx(expected)
    assert float(loss_eq11(pred, target)) == pytest.approx(
        0.99 * 4.5 + 0.01 * 2.0)


def test_loss_eq11_differentiable_and_checked():
    pred = torch.randn(4, 17, 3, requires_grad=True)
    loss_eq11(pred, torch.zeros(4, 17, 3)).backward()
    assert pred.grad.shape == pred.shape
    with pytest.raises(ValueError, match="'lam'"):
        loss_eq11(pred, torch.zeros(4, 17, 3), lam=1.5)
    with pytest.raises(ValueError, match='torch tensors'):
        loss_eq11(np.zeros((4, 17, 3)), np.zeros((4, 17, 3)))

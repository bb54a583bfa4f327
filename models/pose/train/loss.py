"""The training loss of the paper, eq. (11)."""
import torch

from models.pose.evaluate.metrics import check_poses


def loss_eq11(pred: torch.Tensor, target: torch.Tensor,
              lam: float = 0.01) -> torch.Tensor:
    """The paper's training loss, eq. (11).

    ``(1 - lam) * mean_j |pred_j - target_j|_2^2 + lam * mean_j
    |pred_j - target_j|_1``, the means over joints and over every leading
    (batch) dimension. The squared term drives the bulk of the fit; the
    small L1 term keeps a gradient of constant size on joints that are
    already close, where the squared term's gradient vanishes.

    Args:
        pred, target: ``[..., J, 3]`` tensors, same shape (metres in the
            training code, so the loss is in m^2 and m).
        lam: lambda in [0, 1]; the paper uses 0.01.

    Returns:
        A scalar tensor (differentiable).
    """
    if not isinstance(pred, torch.Tensor) or \
            not isinstance(target, torch.Tensor):
        raise ValueError(f"loss_eq11: 'pred' and 'target' must be torch "
                         f"tensors, got {type(pred).__name__} and "
                         f"{type(target).__name__}")
    check_poses(pred, target, 'loss_eq11')
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"loss_eq11: 'lam' must lie in [0, 1], got {lam!r}")
    diff = pred - target
    squared = diff.pow(2).sum(dim=-1).mean()
    absolute = diff.abs().sum(dim=-1).mean()
    return (1.0 - lam) * squared + lam * absolute

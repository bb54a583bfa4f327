"""Test helper shared by the layer tests."""
import torch


def randomize(module, seed: int = 1, scale: float = 0.5):
    """Every parameter of ``module`` drawn from N(0, scale^2) with a fixed
    seed: away from their init, so that every term of the layer matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.pose.nn.cpu import dropout as fast
from models.pose.nn.cpu.dropout import FastDropout, drop_mask, fast_dropout

SMALL = (64, 17, 32)  # one thread draws the mask
LARGE = (4, 512, 600)  # above _PARALLEL_MIN_ELEMENTS: two threads


def _binomial_bound(n: int, p: float, sigmas: float = 6.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize('shape', [SMALL, LARGE])
@pytest.mark.parametrize('p', [0.1, 0.2, 0.5, 0.9])
def test_drop_rate_matches_p(shape, p):
    torch.manual_seed(0)
    drop, keep_probability = drop_mask(shape, p)
    n = math.prod(shape)
    assert drop.shape == shape and drop.dtype == torch.bool
    assert abs(keep_probability - (1 - p)) <= 2.0 ** -17
    assert abs(drop.float().mean().item() - p) < _binomial_bound(n, p)


def test_parallel_mask_halves_are_independent_and_uniform():
    """The two threads' generators are seeded apart: their halves differ,
    and each half alone has the right rate (a repeated seed or a stuck
    bit would show)."""
    assert math.prod(LARGE) >= fast._PARALLEL_MIN_ELEMENTS
    torch.manual_seed(1)
    drop, _ = drop_mask(LARGE, 0.5)
    first, second = drop.flatten().chunk(2)
    assert not torch.equal(first, second)
    for half in (first, second):
        assert abs(half.float().mean().item() - 0.5) < \
            _binomial_bound(half.numel(), 0.5)
    # all 16 bits of every int16 matter: masks at p and p + 2**-16 differ
    # only where the threshold moved
    torch.manual_seed(2)
    low, _ = drop_mask(LARGE, 0.25)
    torch.manual_seed(2)
    high, _ = drop_mask(LARGE, 0.25 + 2.0 ** -16)
    changed = (high & ~low).sum().item()
    assert (low & ~high).sum().item() == 0
    assert 0 < changed < 200  # expected ~ numel * 2**-16 = 19


def test_neighbouring_elements_are_not_correlated():
    torch.manual_seed(3)
    drop, _ = drop_mask((1 << 21, ), 0.5)
    a, b = drop[:-1].float(), drop[1:].float()
    correlation = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() *
                                                               b.std())
    assert abs(correlation.item()) < 6 / math.sqrt(a.numel())


@pytest.mark.parametrize('shape', [SMALL, LARGE])
def test_same_seed_same_mask_other_seed_other_mask(shape):
    torch.manual_seed(5)
    a, _ = drop_mask(shape, 0.2)
    torch.manual_seed(5)
    b, _ = drop_mask(shape, 0.2)
    c, _ = drop_mask(shape, 0.2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_output_and_gradient_equal_torch_dropout_for_the_same_mask():
    """Given torch's own mask, the layer computes what ``F.dropout`` does,
    bit for bit: ``x / (1 - p)`` where kept, 0 where dropped, and the same
    for the gradient."""
    p = 0.25  # a multiple of 2**-16: the keep probability is exact
    x = torch.randn(32, 17, 40, requires_grad=True)
    torch.manual_seed(0)
    ref = F.dropout(x, p, training=True)
    kept = ref != 0
    grad = torch.randn_like(ref)
    ref_grad, = torch.autograd.grad(ref, x, grad)
    out = fast._ScaleAndDrop.apply(x, ~kept, 1.0 / (1.0 - p))
    out_grad, = torch.autograd.grad(out, x, grad)
    assert torch.equal(out, ref)
    assert torch.equal(out_grad, ref_grad)


def test_unbiased_in_expectation():
    torch.manual_seed(0)
    x = torch.ones(2_000_000)
    out = fast_dropout(x, 0.2, training=True)
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.8))
    assert abs(out.mean().item() - 1.0) < 6 * 0.5 / math.sqrt(x.numel())


def test_identity_in_eval_and_at_p_zero():
    x = torch.randn(8, 17, 16)
    layer = FastDropout(0.3).eval()
    assert layer(x) is x
    assert fast_dropout(x, 0.0, training=True) is x
    assert torch.equal(fast_dropout(x, 1.0, training=True),
                       torch.zeros_like(x))


def test_is_an_nn_dropout_with_the_same_state():
    layer = FastDropout(0.2)
    assert isinstance(layer, nn.Dropout)
    assert layer.p == 0.2 and layer.state_dict() == {}
    assert 'p=0.2' in repr(layer)


@pytest.mark.parametrize('p', [-0.1, 1.5])
def test_bad_probability(p):
    with pytest.raises(ValueError, match=r'dropout probability must lie '
                       r'in \[0, 1\], got'):
        fast_dropout(torch.randn(3), p)


def test_other_devices_use_torch_dropout(monkeypatch):
    """Off the CPU the layer is ``F.dropout`` (a fast kernel there)."""
    calls = []
    real = F.dropout

    def spy(x, p, training):
        calls.append(x.device.type)
        return real(x, p, training)

    monkeypatch.setattr(fast.F, 'dropout', spy)
    x = torch.randn(4, 5, device='meta')
    out = fast_dropout(x, 0.2, training=True)
    assert calls == ['meta'] and out.device.type == 'meta'
    fast_dropout(torch.randn(4, 5), 0.2, training=True)
    assert calls == ['meta']  # the CPU tensor took the fast path


def test_compiled_training_step_runs_and_drops():
    """Under torch.compile the layer hands over to F.dropout, which
    inductor lowers to its own random numbers."""
    layer = FastDropout(0.5).train()
    compiled = torch.compile(layer, fullgraph=True, backend='aot_eager')
    x = torch.ones(10_000, requires_grad=True)
    out = compiled(x)
    out.sum().backward()
    dropped = (out == 0).float().mean().item()
    assert 0.45 < dropped < 0.55
    assert torch.equal(x.grad, out.detach())  # grad = mask / (1 - p)

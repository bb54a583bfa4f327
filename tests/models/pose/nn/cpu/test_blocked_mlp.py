import pytest
import torch
import torch.nn.functional as F

from models.pose.nn.blocks import JointMixing
from models.pose.nn.config import preset_config
from models.pose.nn.cpu.blocked_mlp import blocked_joint_mlp
from models.pose.nn.cpu.dropout import drop_mask
from models.pose.nn.model import MLPGraphWJ


def _weights(joints=5, hidden=12, dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=gen, dtype=dtype,
                        requires_grad=True)
            for shape in ((hidden, joints), (hidden, ), (joints, hidden),
                          (joints, ))]


def test_gradcheck_float64_without_dropout():
    w1, b1, w2, b2 = _weights()
    rows = torch.randn(23, 5, dtype=torch.float64, requires_grad=True)
    # 23 rows in blocks of 4: a ragged last block
    assert torch.autograd.gradcheck(
        lambda r, a, b, c, d: blocked_joint_mlp(r, a, b, c, d, 0.0, 4),
        (rows, w1, b1, w2, b2))


@pytest.mark.parametrize('block', [1, 7, 64, 10_000])
def test_equals_autograd_with_the_same_dropout_mask(block):
    """Same seed, same mask: the blocked function and the plain autograd
    graph of fc2(dropout(gelu(fc1(rows)))) agree in value and in every
    gradient (float64, so only summation order differs)."""
    w1, b1, w2, b2 = _weights()
    rows = torch.randn(50, 5, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(50, 5, dtype=torch.float64)
    params = (rows, w1, b1, w2, b2)
    torch.manual_seed(7)
    out = blocked_joint_mlp(*params, 0.3, block)
    got = torch.autograd.grad(out, params, grad)
    torch.manual_seed(7)
    drop, keep = drop_mask((50, 12), 0.3)
    hidden = F.gelu(F.linear(rows, w1, b1)) / keep
    ref = F.linear(hidden.masked_fill(drop, 0.0), w2, b2)
    expected = torch.autograd.grad(ref, params, grad)
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, rtol=1e-10, atol=1e-12)


def test_joint_mixing_training_path_matches_the_plain_path():
    """fp32, no dropout: the blocked path (training_blocking) and
    autograd's plain path give the same output and gradients up to fp32
    summation order."""
    torch.manual_seed(0)
    layer = JointMixing(joints=17, channels=32, dropout=0.0).train()
    h = torch.randn(6, 17, 32, requires_grad=True)
    results = []
    layer.training_chunk_rows = 64  # 6 * 32 = 192 rows: three blocks
    layer.training_min_rows = 0
    for blocking in (True, False):  # blocked, then plain
        layer.zero_grad(set_to_none=True)
        h.grad = None
        layer.training_blocking = blocking
        out = layer(h)
        out.pow(2).sum().backward()
        results.append([out.detach(), h.grad] +
                       [p.grad for p in layer.parameters()])
    for blocked, plain in zip(*results):
        assert torch.allclose(blocked, plain, rtol=1e-5, atol=1e-5)


def test_model_training_uses_the_blocked_path(monkeypatch):
    """A training step of the model goes through blocked_joint_mlp (once
    per block), and not under autocast or in eval with grad off."""
    import models.pose.nn.blocks as blocks_module
    calls = []
    real = blocks_module.blocked_joint_mlp

    def spy(*args):
        calls.append(args[5])  # the dropout probability
        return real(*args)

    monkeypatch.setattr(blocks_module, 'blocked_joint_mlp', spy)
    monkeypatch.setattr(blocks_module.JointMixing, 'training_min_rows', 0)
    model = MLPGraphWJ(preset_config('tiny')).train()
    x = torch.rand(4, 3, 17, 2)
    model(x).sum().backward()
    assert calls == [model.config.dropout] * model.config.layers
    calls.clear()
    other = MLPGraphWJ(preset_config('tiny')).train()
    with model.fast_paths(training_blocking=False):
        model(x).sum().backward()  # this model only: the plain path
        assert calls == []
        other(x).sum().backward()
    assert calls == [other.config.dropout] * other.config.layers
    calls.clear()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        model(x)
    model.eval()
    with torch.no_grad():
        model(x)
    assert calls == []


def test_bad_block():
    w1, b1, w2, b2 = _weights()
    with pytest.raises(ValueError, match="'block' must be positive, got 0"):
        blocked_joint_mlp(torch.randn(3, 5, dtype=torch.float64), w1, b1, w2,
                          b2, 0.0, 0)


def test_training_chooses_the_blocked_path_by_shape(monkeypatch):
    """Below ``training_min_rows`` rows (B * F) the plain path runs: there
    the hidden tensors fit in cache and blocking only adds work."""
    import models.pose.nn.blocks as blocks_module
    calls = []
    real = blocks_module.blocked_joint_mlp
    monkeypatch.setattr(blocks_module, 'blocked_joint_mlp',
                        lambda *args: calls.append(1) or real(*args))
    layer = JointMixing(joints=17, channels=32, dropout=0.0).train()
    layer.training_min_rows = 4 * 32
    layer(torch.randn(3, 17, 32, requires_grad=True)).sum().backward()
    assert calls == []  # 96 rows
    layer(torch.randn(4, 17, 32, requires_grad=True)).sum().backward()
    assert calls == [1]  # 128 rows

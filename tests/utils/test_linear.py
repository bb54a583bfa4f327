import importlib

import pytest
import torch
import torch.nn.functional as F

from pyg_wj.nn import FusedLinear
from pyg_wj.utils import linear, onednn_inference_available

ACT = {None: lambda t: t, 'gelu': F.gelu, 'relu': F.relu}


def _kernels_called(fn):
    """Names of the operators ``fn`` ran."""
    with torch.profiler.profile() as prof:
        fn()
    return {e.name for e in prof.events()}


@pytest.mark.parametrize('activation', [None, 'gelu', 'relu'])
def test_inference_matches_linear_then_activation(activation):
    torch.manual_seed(0)
    x = torch.randn(6, 5, 33)
    weight, bias = torch.randn(20, 33), torch.randn(20)
    expected = ACT[activation](F.linear(x, weight, bias))
    with torch.no_grad():
        out = linear(x, weight, bias, activation)
        out_t = linear(x.transpose(0, 1), weight, None, activation)
    assert out.shape == (6, 5, 20)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        out_t, ACT[activation](F.linear(x.transpose(0, 1), weight)),
        rtol=1e-5, atol=1e-5)


def test_uses_the_onednn_kernel_only_in_plain_cpu_fp32_inference():
    x, weight = torch.randn(8, 16), torch.randn(4, 16, requires_grad=True)
    fused = 'mkldnn::_linear_pointwise'
    with torch.no_grad():
        ran = _kernels_called(lambda: linear(x, weight, None, 'gelu'))
    assert (fused in ran) == onednn_inference_available()
    # autograd, switched off, float64, autocast: plain F.linear, no oneDNN
    assert fused not in _kernels_called(lambda: linear(x, weight))
    with torch.no_grad():
        assert fused not in _kernels_called(
            lambda: linear(x, weight, onednn=False))
        assert fused not in _kernels_called(
            lambda: linear(x.double(), weight.double()))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert fused not in _kernels_called(lambda: linear(x, weight))


def test_autograd_and_autocast_keep_plain_semantics():
    torch.manual_seed(0)
    x = torch.randn(8, 16, requires_grad=True)
    weight = torch.randn(4, 16, requires_grad=True)
    out = linear(x, weight, activation='gelu')
    assert torch.equal(out, F.gelu(F.linear(x, weight)))
    out.sum().backward()
    assert x.grad is not None and weight.grad is not None
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert linear(x, weight).dtype == torch.bfloat16


def test_the_switch_belongs_to_one_layer():
    """``onednn=False`` on one FusedLinear leaves another alone (no
    process-wide setting), and both give the same result."""
    fused = 'mkldnn::_linear_pointwise'
    torch.manual_seed(0)
    on = FusedLinear(16, 4, activation='gelu')
    off = FusedLinear(16, 4, activation='gelu', onednn=False)
    off.load_state_dict(on.state_dict())
    x = torch.randn(8, 16)
    with torch.no_grad():
        assert fused not in _kernels_called(lambda: off(x))
        assert (fused in _kernels_called(lambda: on(x))) == \
            onednn_inference_available()
        torch.testing.assert_close(on(x), off(x), rtol=1e-5, atol=1e-6)
    assert 'onednn=False' in repr(off) and 'onednn' not in repr(on)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match=r"'activation' must be one of .* "
                       r"got 'tanh'"):
        linear(torch.randn(2, 3), torch.randn(4, 3), activation='tanh')


# the packed-weight cache (pyg_wj.utils.linear.packed_weight)

_linear_module = importlib.import_module('pyg_wj.utils.linear')


def _packed_and_plain(layer, x):
    with torch.no_grad():
        packed = layer(x)
        with_plain = F.linear(x, layer.weight, layer.bias)
    return packed, with_plain


def _edits():
    """Ways a weight changes under a cached packed copy."""
    def in_place(layer):
        with torch.no_grad():
            layer.weight.mul_(-2.0)

    def optimizer_step(layer):
        opt = torch.optim.SGD(layer.parameters(), lr=1.0)
        layer(torch.randn(3, 16)).square().sum().backward()
        opt.step()

    def load_state_dict(layer):
        layer.load_state_dict({'weight': torch.randn(8, 16),
                               'bias': torch.randn(8)})

    def round_trip(layer):  # new storage, same dtype and version
        layer.double()
        layer.weight.data.mul_(-2.0)  # invisible to the version counter
        layer.float()

    def new_parameter(layer):
        layer.weight = torch.nn.Parameter(torch.randn(8, 16))

    return [in_place, optimizer_step, load_state_dict, round_trip,
            new_parameter]


@pytest.mark.parametrize('edit', _edits(), ids=lambda f: f.__name__)
def test_packed_weights_follow_every_change(edit):
    torch.manual_seed(0)
    layer = FusedLinear(16, 8)
    x = torch.randn(5, 16)
    out, _ = _packed_and_plain(layer, x)  # packs and caches
    edit(layer)
    out_after, expected = _packed_and_plain(layer, x)
    torch.testing.assert_close(out_after, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_after, out)  # the edit mattered


def test_packed_weights_follow_a_dtype_change():
    torch.manual_seed(0)
    layer = FusedLinear(16, 8)
    x = torch.randn(5, 16)
    _packed_and_plain(layer, x)
    layer.double()
    with torch.no_grad():
        out = layer(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(
        out, F.linear(x.double(), layer.weight, layer.bias))


@pytest.mark.skipif(not onednn_inference_available(),
                    reason='no oneDNN kernel in this build')
def test_packed_weight_is_cached_per_row_count():
    torch.manual_seed(0)
    layer = FusedLinear(16, 8)
    with torch.no_grad():
        layer(torch.randn(5, 16))
        first = _linear_module.packed_weight(layer.weight, 5)
        assert _linear_module.packed_weight(layer.weight, 5) is first
        for rows in range(6, 6 + _linear_module.PACKED_PER_WEIGHT):
            layer(torch.randn(rows, 16))
    # the oldest row count was evicted, the copies stay bounded
    cached = _linear_module._packed[layer.weight]
    assert 5 not in cached
    assert len(cached) == _linear_module.PACKED_PER_WEIGHT
    # only parameters are cached: a temporary would only fill the cache
    assert _linear_module.packed_weight(torch.randn(8, 16), 5) is None


@pytest.mark.parametrize('missing', ['_reorder', '_kernel'])
def test_plain_path_where_an_op_is_missing(monkeypatch, missing):
    torch.manual_seed(0)
    layer = FusedLinear(16, 8, activation='gelu')
    x = torch.randn(5, 16)
    monkeypatch.setattr(_linear_module, missing, False)
    _linear_module.clear_packed_weights()
    with torch.no_grad():
        ran = _kernels_called(lambda: layer(x))
        out = layer(x)
    assert 'mkldnn::_reorder_linear_weight' not in ran
    assert ('mkldnn::_linear_pointwise' in ran) == (
        missing == '_reorder' and onednn_inference_available())
    assert _linear_module._packed.get(layer.weight) is None
    torch.testing.assert_close(out, F.gelu(F.linear(x, layer.weight,
                                                    layer.bias)))


def test_constant_weight_matches_linear():
    torch.manual_seed(0)
    weight, bias = torch.randn(8, 16), torch.randn(8)
    const = _linear_module.ConstantWeight(weight, bias)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        for onednn in (True, False):
            torch.testing.assert_close(
                const(x, 'gelu', onednn=onednn),
                F.gelu(F.linear(x, weight, bias)), rtol=1e-5, atol=1e-5)

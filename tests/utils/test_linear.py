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

import pytest
import torch
import torch.nn.functional as F

from pyg_wj import DenseWJConv, WJConv
from pyg_wj.nn import FusedLinear
from tests.nn._parameters import randomize


def test_fused_linear_is_a_linear_with_an_activation():
    torch.manual_seed(0)
    layer = FusedLinear(12, 7, activation='gelu')
    plain = torch.nn.Linear(12, 7)
    plain.load_state_dict(layer.state_dict())  # same parameters and names
    assert isinstance(layer, torch.nn.Linear)
    assert str(layer) == ('FusedLinear(in_features=12, out_features=7, '
                          'bias=True, activation=\'gelu\')')
    x = torch.randn(3, 5, 12)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), F.gelu(plain(x)), rtol=1e-5,
                                   atol=1e-5)
    # training: the plain path, gradients reach the weights
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None


def test_fused_linear_without_bias_or_activation():
    layer = FusedLinear(4, 3, bias=False)
    assert layer.bias is None and 'activation' not in str(layer)
    x = torch.randn(6, 4)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x @ layer.weight.t())


def test_fused_linear_refuses_an_unknown_activation():
    with pytest.raises(ValueError, match="'activation' must be one of"):
        FusedLinear(4, 3, activation='swish')


@pytest.mark.parametrize('lazy', [False, True])
def test_wj_layers_onednn_switch_is_per_layer(lazy):
    """``onednn = False`` on one WJ layer (it reaches the layer's
    ``lin_initial``, also after lazy sizes are fixed) leaves another layer
    alone, and both compute the same result."""
    fused = 'mkldnn::_linear_pointwise'
    torch.manual_seed(0)
    x = torch.randn(4, 6, 8)
    adj = (torch.rand(6, 6) > 0.5).float()
    edge_index = adj.nonzero().t()
    in_channels = -1 if lazy else 8
    for cls, graph in ((DenseWJConv, adj), (WJConv, edge_index)):
        on, off = cls(in_channels, 5), cls(in_channels, 5)
        off.onednn = False
        if lazy:
            with torch.no_grad():
                on(x, x, graph), off(x, x, graph)
        randomize(on)
        off.load_state_dict(on.state_dict())
        assert on.onednn and on.lin_initial.onednn
        assert not off.onednn and not off.lin_initial.onednn
        assert 'onednn=False' in repr(off) and 'onednn' not in repr(on)
        with torch.no_grad():
            with torch.profiler.profile() as prof:
                plain = off(x, x, graph)
            assert fused not in {e.name for e in prof.events()}
            torch.testing.assert_close(on(x, x, graph), plain, rtol=1e-5,
                                       atol=1e-5)

import pytest
import torch
import torch.nn.functional as F

from pyg_wj.nn import FusedLinear


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

"""Table-driven bad inputs for WJConv / DenseWJConv (issue 14, item 11):
each raises the layer's own error, naming the argument, what it saw and
what it expected, never a NaN or a deep torch error."""
import pytest
import torch

from pyg_wj import DenseWJConv, WJConv

EI = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
X = torch.randn(4, 3)


def adj(value=1.0):
    a = torch.zeros(4, 4)
    a[EI[1], EI[0]] = value
    return a


def neg_adj():
    a = adj()
    a[1, 0] = -2.0
    return a


# (id, layer, call arguments, exception, message pattern)
CASES = [
    ('negative edge_weight', lambda: WJConv(3, 2),
     lambda: (X, X, EI, torch.tensor([1., -2., 1., 1.])), ValueError,
     r"'edge_weight' must be non-negative with normalize=True .* minimum "
     r"of -2"),
    ('negative weight, large graph', lambda: WJConv(3, 2, dense_max_nodes=0),
     lambda: (X, X, EI, torch.tensor([1., -2., 1., 1.])), ValueError,
     r"'edge_weight' must be non-negative"),
    ('negative learned weight', lambda: WJConv(3, 2),
     lambda: (X, X, EI, torch.tensor([1., -2., 1., 1.], requires_grad=True)),
     ValueError, r"'edge_weight' must be non-negative"),
    ('NaN edge_weight', lambda: WJConv(3, 2, normalize=False),
     lambda: (X, X, EI, torch.tensor([1., float('nan'), 1., 1.])), ValueError,
     r"'edge_weight' must be finite, got 1 NaN/inf"),
    ('negative dense adj', lambda: DenseWJConv(3, 2),
     lambda: (X, X, neg_adj()), ValueError,
     r"'adj' must be non-negative with normalize=True .* -2"),
    ('inf dense adj', lambda: DenseWJConv(3, 2),
     lambda: (X, X, adj(float('inf'))), ValueError, r"'adj' must be finite"),
    ('uint8 edge_index', lambda: WJConv(3, 2),
     lambda: (X, X, EI.to(torch.uint8)), TypeError,
     r"'edge_index' must be an integer tensor of dtype torch.long .* got "
     r"dtype torch.uint8"),
    ('int16 edge_index', lambda: WJConv(3, 2),
     lambda: (X, X, EI.to(torch.int16)), TypeError, r"torch.int16"),
    ('bool edge_index', lambda: WJConv(3, 2),
     lambda: (X, X, EI.bool()), TypeError, r"torch.bool"),
    ('float64 x on a float32 layer', lambda: WJConv(3, 2),
     lambda: (X.double(), X.double(), EI), TypeError,
     r"'x' has dtype torch.float64 but the layer's parameters are "
     r"torch.float32"),
    ('bf16 x on a float32 layer', lambda: WJConv(3, 2),
     lambda: (X.bfloat16(), X.bfloat16(), EI), TypeError,
     r"'x' has dtype torch.bfloat16 .* torch.float32.*autocast"),
    ('float64 x on a float32 dense layer', lambda: DenseWJConv(3, 2),
     lambda: (X.double(), X.double(), adj()), TypeError,
     r"'x' has dtype torch.float64"),
    ('x_0 dtype differs', lambda: WJConv(3, 2),
     lambda: (X, X.double(), EI), TypeError, r"'x_0' has dtype torch.float64"),
    ('x as a bipartite tuple', lambda: WJConv(3, 2),
     lambda: ((X, X), X, EI), TypeError, r"'x' must be a torch.Tensor .* "
     r"tuple"),
    ('edge_weight a list', lambda: WJConv(3, 2),
     lambda: (X, X, EI, [1., 1., 1., 1.]), TypeError,
     r"'edge_weight' must be a torch.Tensor \[4\], got list"),
    ('in_channels zero', lambda: WJConv(0, 2), None, ValueError,
     r"'in_channels' and 'out_channels' must be positive"),
    ('x0_channels negative', lambda: WJConv(3, 2, x0_channels=-3), None,
     ValueError, r"'x0_channels' must be positive or -1"),
    ('unknown parametrization', lambda: WJConv(3, 2, parametrization='x'),
     None, ValueError, r"'parametrization' must be one of \('paper', "
     r"'separate', 'tied'\), got 'x'"),
    ('flow target_to_source',
     lambda: WJConv(3, 2, flow='target_to_source'), None, ValueError,
     r"flow='source_to_target' only"),
]


@pytest.mark.parametrize('name,layer,args,exc,pattern', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input(name, layer, args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        conv = layer()
        conv(*args())


def test_negative_weights_allowed_without_normalization():
    out = WJConv(3, 2, normalize=False)(X, X, EI,
                                         torch.tensor([1., -2., 1., 1.]))
    assert torch.isfinite(out).all()


def test_int32_edge_index_accepted():
    conv = WJConv(3, 2)
    torch.testing.assert_close(conv(X, X, EI.int()), conv(X, X, EI))

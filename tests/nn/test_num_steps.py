"""``num_steps``: K weighted-Jacobi steps in one WJ layer, against an
independent float64 reference (eq. 6, then the Jacobi update), the
implicit-fairing solve it converges to, and the twins agreeing."""
import pytest
import torch
from torch_geometric.datasets import KarateClub

from pyg_wj import DenseWJConv, WJConv
from tests.nn._parameters import randomize


def _graph(n=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=gen) < 0.4).double()
    a = ((a + a.t()) > 0).double()
    a.fill_diagonal_(0.0)
    edge_index = a.nonzero().t().flip(0)  # row j -> i for a[i, j]
    return a, edge_index


def _reference(conv, x, x_0, a):
    """Eq. (6) and the later steps written out in float64 from the layer's
    parameters, with the normalised adjacency built here (self-loops added,
    symmetric D^-1/2 (A + I) D^-1/2, as the layer's default)."""
    a = a + torch.eye(a.size(0), dtype=a.dtype)
    d = a.sum(1).rsqrt()
    a_hat = d.view(-1, 1) * a * d.view(1, -1)
    c = (1 - conv.alpha) * a_hat - torch.eye(a.size(0), dtype=a.dtype)
    h1 = x @ conv.W1 + conv.bias
    x0w3 = x_0 @ conv.W3
    out = h1 + conv.omega * (c @ (x @ conv.W2) + conv.alpha * x0w3)
    for _ in range(conv.num_steps - 1):
        out = out + conv.omega * (c @ out + conv.alpha * x0w3)
    return out


@pytest.mark.parametrize('num_steps', [1, 2, 3])
@pytest.mark.parametrize('dense_max_nodes', [0, 64])  # CSR and dense paths
def test_steps_match_the_float64_reference(num_steps, dense_max_nodes):
    a, edge_index = _graph()
    conv = randomize(WJConv(4, 5, omega='channel', parametrization='paper',
                            num_steps=num_steps,
                            dense_max_nodes=dense_max_nodes), seed=1,
                     scale=0.5).double()
    x, x_0 = torch.randn(7, 4).double(), torch.randn(7, 4).double()
    expected = _reference(conv, x, x_0, a)
    torch.testing.assert_close(conv(x, x_0, edge_index), expected,
                               rtol=1e-10, atol=1e-10)


def test_one_step_is_the_layer_as_it_was_and_the_state_dict_is_shared():
    _, edge_index = _graph()
    one = randomize(WJConv(4, 5, omega='channel'), seed=2, scale=0.5)
    three = WJConv(4, 5, omega='channel', num_steps=3)
    three.load_state_dict(one.state_dict())  # same keys and shapes
    dense = DenseWJConv(4, 5, omega='channel', num_steps=3)
    dense.load_state_dict(one.state_dict())
    explicit = WJConv(4, 5, omega='channel', num_steps=1)
    explicit.load_state_dict(one.state_dict())
    x = torch.randn(7, 4)
    assert torch.equal(one(x, x, edge_index), explicit(x, x, edge_index))
    assert not torch.allclose(one(x, x, edge_index),
                              three(x, x, edge_index))
    adj = torch.zeros(7, 7)
    adj[edge_index[1], edge_index[0]] = 1.0
    torch.testing.assert_close(dense(x, x, adj), three(x, x, edge_index),
                               rtol=1e-5, atol=1e-5)
    assert 'num_steps=3' in repr(three) and 'num_steps' not in repr(one)


@pytest.mark.parametrize('parametrization', ['paper', 'tied'])
def test_many_steps_solve_the_implicit_fairing_system(parametrization):
    """With identity weights one call of K steps is K Jacobi steps, so
    for large K the output is (I + sL)^-1 X0 (the fixed point the repeated
    single-step layer reaches in test_wj_conv.py), whatever the start."""
    data = KarateClub()[0]
    n = data.num_nodes
    alpha = 0.25
    conv = WJConv(n, n, alpha=alpha, omega='scalar', bias=False,
                  dense_max_nodes=0, add_self_loops=False,
                  parametrization=parametrization, num_steps=400).double()
    with torch.no_grad():
        eye = torch.eye(n, dtype=torch.float64)
        conv.lin.weight.copy_(torch.cat(
            [eye] * (1 if parametrization == 'tied' else 2)))
        conv.lin_initial.weight.copy_(eye)
        conv.omega.fill_(0.8)
        x_0 = torch.randn(n, n, dtype=torch.float64)
        out = conv(torch.randn(n, n, dtype=torch.float64), x_0,
                   data.edge_index)
    a = torch.zeros(n, n, dtype=torch.float64)
    a[data.edge_index[1], data.edge_index[0]] = 1.0
    d = a.sum(1).rsqrt()
    lap = eye - d.view(-1, 1) * a * d.view(1, -1)
    expected = torch.linalg.solve(eye + (1 / alpha - 1) * lap, x_0)
    assert (out - expected).abs().max() < 1e-6


def test_gradients_through_the_steps():
    _, edge_index = _graph(5)
    conv = randomize(WJConv(3, 2, omega='channel', num_steps=3), seed=3,
                     scale=0.5).double()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: conv(x, x, edge_index), (x, ))


def test_the_authors_diagonal_takes_the_steps_too():
    a, edge_index = _graph()
    kwargs = dict(omega='channel', authors_diagonal=True, num_steps=2)
    sparse = randomize(WJConv(4, 5, **kwargs), seed=4, scale=0.5)
    dense = DenseWJConv(4, 5, **kwargs)
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(2, 7, 4)
    torch.testing.assert_close(dense(x, x, a.float()),
                               sparse(x, x, edge_index), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('layer', [WJConv, DenseWJConv])
@pytest.mark.parametrize('kwargs, match', [
    ({'num_steps': 0}, r"'num_steps' must be an integer >= 1 .* got 0"),
    ({'num_steps': -2}, r"got -2"),
    ({'num_steps': 1.5}, r"got 1.5"),
    ({'num_steps': True}, r"got True"),
    ({'num_steps': 2, 'parametrization': 'separate'},
     r"parametrization='separate' has none; use 'paper' or 'tied'"),
])
def test_bad_num_steps_are_refused(layer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer(4, 5, **kwargs)

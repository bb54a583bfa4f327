import functools

import pytest
import torch

from pyg_wj import DenseWJConv, WJConv
from tests.nn._parameters import randomize

randomized = functools.partial(randomize, seed=0, scale=0.3)


def skeleton_adj():
    """The 17-joint Human3.6M skeleton as a dense 0/1 adjacency."""
    parents = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
    adj = torch.zeros(17, 17)
    for child, parent in enumerate(parents):
        if parent >= 0:
            adj[child, parent] = adj[parent, child] = 1.0
    return adj




@pytest.mark.parametrize('omega', ['node', 'channel', 'scalar', 'none'])
@pytest.mark.parametrize('modulation', [False, True])
@pytest.mark.parametrize('authors_diagonal', [False, True])
@pytest.mark.parametrize('parametrization', ['paper', 'separate', 'tied'])
@pytest.mark.parametrize('self_loops', [False, True])
def test_matches_wj_conv(omega, modulation, authors_diagonal, parametrization,
                         self_loops):
    adj = skeleton_adj()
    adj[3, 3] = 0.5  # one existing self-loop
    edge_index = adj.nonzero().t().flip(0)
    edge_weight = adj[edge_index[1], edge_index[0]]
    kwargs = dict(omega=omega, num_nodes=17, modulation=modulation,
                  x0_channels=7, authors_diagonal=authors_diagonal,
                  parametrization=parametrization, add_self_loops=self_loops)
    dense = randomized(DenseWJConv(8, 6, **kwargs))
    sparse = WJConv(8, 6, dense_max_nodes=0, **kwargs)
    sparse.load_state_dict(dense.state_dict())
    x, x_0 = torch.randn(4, 17, 8), torch.randn(4, 17, 7)
    torch.testing.assert_close(dense(x, x_0, adj),
                               sparse(x, x_0, edge_index, edge_weight),
                               atol=1e-5, rtol=1e-5)


def test_mask_zeroes_masked_nodes():
    conv = randomized(DenseWJConv(4, 4))
    x = torch.randn(2, 17, 4)
    mask = torch.ones(2, 17, dtype=torch.bool)
    mask[1, 5:] = False
    out = conv(x, x, skeleton_adj(), mask)
    assert out[1, 5:].abs().sum() == 0
    torch.testing.assert_close(out[0], conv(x, x, skeleton_adj())[0])
    with pytest.raises(ValueError, match=r"'mask' must have shape \[2, 17\]"):
        conv(x, x, skeleton_adj(), mask[:, :3])


def test_cached_adjacency():
    conv = DenseWJConv(4, 4, cached=True)
    x = torch.randn(3, 17, 4)
    first = conv(x, x, skeleton_adj())
    assert conv._cached_adj is not None
    assert torch.equal(conv(x, x, torch.eye(17)), first)
    conv.reset_parameters()
    assert conv._cached_adj is None


def test_gradcheck():
    conv = randomized(DenseWJConv(3, 2, num_nodes=17,
                                  modulation=True)).double()
    x = torch.randn(2, 17, 3, dtype=torch.float64, requires_grad=True)
    adj = skeleton_adj().double()
    assert torch.autograd.gradcheck(lambda a: conv(a, a, adj), (x, ))


def test_bad_adjacency():
    conv = DenseWJConv(4, 4)
    x = torch.randn(2, 17, 4)
    with pytest.raises(ValueError, match=r"'adj' must have shape \[17, 17\] "
                       r"or \[2, 17, 17\] .* got \[16, 16\]"):
        conv(x, x, torch.zeros(16, 16))
    with pytest.raises(ValueError, match=r"got \[3, 17, 17\]"):
        conv(x, x, torch.zeros(3, 17, 17))
    with pytest.raises(TypeError, match="'adj' must be a floating-point"):
        conv(x, x, torch.zeros(17, 17, dtype=torch.long))
    with pytest.raises(TypeError, match="'adj' must be a dense"):
        conv(x, x, skeleton_adj().to_sparse())


def test_repr():
    assert repr(DenseWJConv(384, 768, num_nodes=17, modulation=True)) == (
        "DenseWJConv(384, 768, alpha=0.1, omega='node', num_nodes=17, "
        "modulation=True)")


@pytest.mark.parametrize('authors_diagonal', [False, True])
def test_operator_cache_is_never_stale(authors_diagonal):
    """Without autograd the Jacobi operator is kept between calls; every
    change of its sources (Q, the adjacency, alpha) rebuilds it."""
    torch.manual_seed(0)
    conv = DenseWJConv(8, 6, num_nodes=5, modulation=True,
                       authors_diagonal=authors_diagonal).eval()
    x, adj = torch.randn(2, 5, 8), torch.rand(5, 5)

    def fresh():  # the same layer with autograd on: nothing cached
        with torch.enable_grad():
            return conv(x, x, adj).detach()

    def edit_q():
        conv.Q.add_(0.5)

    def edit_adj():
        adj.add_(torch.rand(5, 5))  # not a rescaling: normalised away

    def edit_alpha():
        conv.alpha = 0.6

    with torch.no_grad():
        first = conv(x, x, adj)
        assert 'operator' in conv._constants
        for edit in (edit_q, edit_adj, edit_alpha):
            edit()
            out = conv(x, x, adj)
            torch.testing.assert_close(out, fresh())
            assert not torch.allclose(out, first)
            first = out

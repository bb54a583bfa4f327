import copy
import io

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.datasets import KarateClub
from torch_geometric.utils import to_torch_coo_tensor, to_torch_csr_tensor

from pyg_wj import DenseWJConv, WJConv
from tests.nn._parameters import randomize

OMEGAS = ['node', 'channel', 'scalar', 'none']
PARAMETRIZATIONS = ['paper', 'separate', 'tied']


def random_graph(num_nodes=9, num_edges=24, seed=0):
    """A directed graph with weights, a self-loop and an isolated node."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes - 1, (num_edges, ), generator=g)
    dst = torch.randint(0, num_nodes - 1, (num_edges, ), generator=g)
    edge_index = torch.stack([src, dst])
    edge_index = torch.cat([edge_index, torch.tensor([[2], [2]])], dim=1)
    edge_weight = torch.rand(edge_index.size(1), generator=g) + 0.5
    return edge_index, edge_weight


def naive_wj(conv, x, x_0, edge_index, edge_weight=None):
    """Eq. (6) from dense float64 matrices with explicit loops, independent
    of the layer's own aggregation code."""
    n = x.size(-2)
    x, x_0 = x.double(), x_0.double()
    a = torch.zeros(n, n, dtype=torch.float64)
    weights = (torch.ones(edge_index.size(1)) if edge_weight is None else
               edge_weight)
    for k in range(edge_index.size(1)):
        j, i = int(edge_index[0, k]), int(edge_index[1, k])
        a[i, j] += float(weights[k])
    if conv.add_self_loops:
        for i in range(n):
            if a[i, i] == 0:
                a[i, i] = 1.0
    if conv.normalize:
        deg = a.sum(dim=1)
        for i in range(n):
            for j in range(n):
                if a[i, j] != 0:
                    a[i, j] = a[i, j] / (deg[i].sqrt() * deg[j].sqrt())
    if conv.Q is not None:
        a = a + conv.Q.double()
        a = 0.5 * (a + a.t())
    # the parametrisations, read from the raw [W1 | W2] (or [W]) weight
    weight = conv.lin.weight.double()
    out_ch = conv.out_channels
    if conv.parametrization == 'tied':
        w1 = w2 = weight.t()
    else:
        w1, w2 = weight[:out_ch].t(), weight[out_ch:].t()
    self_term = 0.0 if conv.parametrization == 'separate' else -1.0
    w3 = conv.lin_initial.weight.double().t()
    omega = (torch.ones(()) if conv.omega is None else conv.omega).double()
    alpha = conv.alpha
    h2 = x @ w2
    if conv.authors_diagonal:
        neigh = a.diagonal().view(-1, 1) * h2
    else:
        neigh = torch.einsum('ij,...jc->...ic', a, h2)
    out = (x @ w1 + self_term * omega * h2 + (1 - alpha) * omega * neigh +
           alpha * omega * (x_0 @ w3))
    if conv.bias is not None:
        out = out + conv.bias.double()
    return out




@pytest.mark.parametrize('omega', OMEGAS)
@pytest.mark.parametrize('modulation', [False, True])
@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('self_loops', [False, True])
@pytest.mark.parametrize('dense_max_nodes', [0, 64])
@pytest.mark.parametrize('parametrization', PARAMETRIZATIONS)
def test_matches_naive_equation_6(omega, modulation, weighted, self_loops,
                                  dense_max_nodes, parametrization,
                                  torch_scatter):
    edge_index, edge_weight = random_graph()
    edge_weight = edge_weight if weighted else None
    conv = randomize(
        WJConv(5, 4, alpha=0.3, omega=omega, num_nodes=9,
               modulation=modulation, x0_channels=3,
               add_self_loops=self_loops, dense_max_nodes=dense_max_nodes,
               parametrization=parametrization))
    x, x_0 = torch.randn(9, 5), torch.randn(9, 3)
    out = conv(x, x_0, edge_index, edge_weight)
    assert out.shape == (9, 4)
    expected = naive_wj(conv, x, x_0, edge_index, edge_weight)
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-5)


def test_normalize_false_uses_weights_as_given():
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(4, 4, normalize=False, dense_max_nodes=0))
    x = torch.randn(9, 4)
    out = conv(x, x, edge_index, edge_weight)
    torch.testing.assert_close(out.double(),
                               naive_wj(conv, x, x, edge_index, edge_weight),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('omega', OMEGAS)
def test_authors_diagonal_ignores_neighbours(omega):
    edge_index, _ = random_graph()
    conv = randomize(WJConv(4, 4, omega=omega, num_nodes=9, modulation=True,
                            authors_diagonal=True))
    x = torch.randn(9, 4)
    out = conv(x, x, edge_index)
    torch.testing.assert_close(out.double(), naive_wj(conv, x, x, edge_index),
                               atol=1e-5, rtol=1e-5)
    # Changing any other node leaves node 0 unchanged: no aggregation.
    x2 = x.clone()
    x2[1:] += 1.0
    assert torch.allclose(conv(x2, x2, edge_index)[0], out[0])


def layouts(edge_index, edge_weight, n):
    yield 'edge_index', edge_index, edge_weight
    yield 'EdgeIndex', EdgeIndex(edge_index, sparse_size=(n, n)), edge_weight
    yield 'coo', to_torch_coo_tensor(edge_index.flip(0), edge_weight,
                                     (n, n)), None
    yield 'csr', to_torch_csr_tensor(edge_index.flip(0), edge_weight,
                                     (n, n)), None


@pytest.mark.parametrize('modulation', [False, True])
@pytest.mark.parametrize('dense_max_nodes', [0, 64])
def test_all_layouts_agree(modulation, dense_max_nodes):
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(6, 5, num_nodes=9, modulation=modulation,
                            dense_max_nodes=dense_max_nodes))
    x, x_0 = torch.randn(3, 9, 6), torch.randn(3, 9, 6)
    ref = torch.stack([
        conv(x[b], x_0[b], edge_index, edge_weight) for b in range(3)
    ])
    for name, adj, weight in layouts(edge_index, edge_weight, 9):
        out = conv(x, x_0, adj, weight)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5,
                                   msg=f'layout {name}')

    dense_adj = torch.zeros(9, 9)
    dense_adj.index_put_((edge_index[1], edge_index[0]), edge_weight,
                         accumulate=True)
    dense = DenseWJConv(6, 5, num_nodes=9, modulation=modulation)
    dense.load_state_dict(conv.state_dict())
    torch.testing.assert_close(dense(x, x_0, dense_adj), ref, atol=1e-5,
                               rtol=1e-5)
    batched_adj = dense_adj.expand(3, 9, 9)
    torch.testing.assert_close(dense(x, x_0, batched_adj), ref, atol=1e-5,
                               rtol=1e-5)


def test_more_leading_dims():
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(4, 3, dense_max_nodes=0))
    x = torch.randn(2, 3, 9, 4)
    out = conv(x, x, edge_index, edge_weight)
    assert out.shape == (2, 3, 9, 3)
    torch.testing.assert_close(out[1, 2],
                               conv(x[1, 2], x[1, 2], edge_index,
                                    edge_weight))


@pytest.mark.parametrize('parametrization', PARAMETRIZATIONS)
def test_learnable_edge_weight_gets_gradient(parametrization, torch_scatter):
    edge_index, edge_weight = random_graph()
    edge_weight = edge_weight.clone().requires_grad_()
    conv = randomize(WJConv(4, 4, parametrization=parametrization))
    x = torch.randn(9, 4)
    out = conv(x, x, edge_index, edge_weight)
    torch.testing.assert_close(out.double(),
                               naive_wj(conv, x, x, edge_index,
                                        edge_weight.detach()),
                               atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert edge_weight.grad is not None and edge_weight.grad.abs().sum() > 0


@pytest.mark.parametrize('dense_max_nodes', [0, 64])
def test_locality(dense_max_nodes):
    # path 0 - 1 - 2 - 3 - 4, undirected
    e = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    edge_index = torch.cat([e, e.flip(0)], dim=1)
    conv = randomize(WJConv(3, 3, dense_max_nodes=dense_max_nodes))
    x, x_0 = torch.randn(5, 3), torch.randn(5, 3)
    out = conv(x, x_0, edge_index)

    far = x.clone()
    far[3] += 10.0  # node 3 is not a neighbour of node 0 or 1
    out_far = conv(far, x_0, edge_index)
    assert torch.equal(out_far[0], out[0])
    assert torch.equal(out_far[1], out[1])
    assert not torch.allclose(out_far[2], out[2])  # 3 is 2's neighbour

    near = x.clone()
    near[1] += 10.0
    assert not torch.allclose(conv(near, x_0, edge_index)[0], out[0])


def test_permutation_equivariance():
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(4, 4, dense_max_nodes=0))
    x, x_0 = torch.randn(9, 4), torch.randn(9, 4)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(9)
    out = conv(x, x_0, edge_index, edge_weight)
    out_perm = conv(x[perm], x_0[perm], inv[edge_index], edge_weight)
    torch.testing.assert_close(out_perm, out[perm], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('dense_max_nodes', [0, 64])
@pytest.mark.parametrize('parametrization', PARAMETRIZATIONS)
def test_gradcheck(dense_max_nodes, parametrization):
    edge_index, edge_weight = random_graph(num_nodes=6, num_edges=10)
    conv = randomize(WJConv(3, 2, num_nodes=6, modulation=True,
                            dense_max_nodes=dense_max_nodes,
                            parametrization=parametrization)).double()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    x_0 = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    weight = edge_weight.double()
    assert torch.autograd.gradcheck(
        lambda a, b: conv(a, b, edge_index, weight), (x, x_0))
    # and with respect to the parameters, Omega and Q included
    params = [p for p in conv.parameters()]
    names = [n for n, _ in conv.named_parameters()]

    def by_params(*ps):
        state = dict(zip(names, ps))
        return torch.func.functional_call(conv, state,
                                          (x.detach(), x_0.detach(),
                                           edge_index, weight))

    assert torch.autograd.gradcheck(
        by_params, tuple(p.detach().clone().requires_grad_() for p in params))



@pytest.mark.parametrize('batch', [(), (3, )])
def test_sparse_backward_with_cached_transpose(batch):
    """The CSR path's backward multiplies by M^T built once per cached
    graph; its gradients equal the dense path's on a directed graph."""
    edge_index, edge_weight = random_graph()
    sparse = randomize(WJConv(4, 5, cached=True, dense_max_nodes=0))
    dense = copy.deepcopy(sparse)
    dense.dense_max_nodes = 64
    x = torch.randn(*batch, 9, 4)
    grads = []
    for conv in (sparse, dense):
        xg = x.clone().requires_grad_()
        out = conv(xg, x, edge_index, edge_weight)
        grads.append(torch.autograd.grad((out ** 2).sum(),
                                         [xg, conv.lin.weight]))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    graph = sparse._cached_graph
    assert graph.csr is not None and graph.csr_transposed is not None
    torch.testing.assert_close(graph.csr_transposed.to_dense(),
                               graph.csr.to_dense().t())
    # inference never builds it
    fresh = randomize(WJConv(4, 5, cached=True, dense_max_nodes=0))
    with torch.no_grad():
        fresh(x, x, edge_index, edge_weight)
    assert fresh._cached_graph.csr_transposed is None

@pytest.mark.slow
def test_torch_compile_matches_eager():
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(8, 8, num_nodes=9, modulation=True))
    x = torch.randn(4, 9, 8)
    eager = conv(x, x, edge_index, edge_weight)
    compiled = torch.compile(conv)
    torch.testing.assert_close(compiled(x, x, edge_index, edge_weight),
                               eager, atol=1e-5, rtol=1e-5)


def test_state_dict_round_trip():
    conv = randomize(WJConv(4, 6, num_nodes=9, modulation=True,
                            x0_channels=2))
    buf = io.BytesIO()
    torch.save(conv.state_dict(), buf)
    buf.seek(0)
    other = WJConv(4, 6, num_nodes=9, modulation=True, x0_channels=2)
    other.load_state_dict(torch.load(buf, weights_only=True))
    edge_index, edge_weight = random_graph()
    x, x_0 = torch.randn(9, 4), torch.randn(9, 2)
    assert torch.equal(conv(x, x_0, edge_index, edge_weight),
                       other(x, x_0, edge_index, edge_weight))
    assert set(conv.state_dict()) == {'lin.weight', 'lin_initial.weight',
                                      'omega', 'Q', 'bias'}


def test_cached():
    edge_index, edge_weight = random_graph()
    conv = randomize(WJConv(4, 4, cached=True, dense_max_nodes=0))
    fresh = copy.deepcopy(conv)
    fresh.cached = False
    x = torch.randn(9, 4)
    first = conv(x, x, edge_index, edge_weight)
    assert conv._cached_graph is not None
    # a cached layer ignores a changed graph, as PyG's cached layers do
    assert torch.equal(conv(x, x, edge_index[:, :3]), first)
    assert torch.allclose(fresh(x, x, edge_index, edge_weight), first)
    conv.reset_parameters()
    assert conv._cached_graph is None
    conv(x, x, edge_index, edge_weight)  # caches the 9-node graph again
    with pytest.raises(ValueError, match='cached a graph with 9 nodes'):
        conv(torch.randn(12, 4), torch.randn(12, 4), edge_index)


def test_return_x0_proj():
    edge_index, _ = random_graph()
    conv = randomize(WJConv(4, 5, x0_channels=3))
    x, x_0 = torch.randn(9, 4), torch.randn(9, 3)
    out, proj = conv(x, x_0, edge_index, return_x0_proj=True)
    torch.testing.assert_close(proj, x_0 @ conv.W3)
    assert torch.equal(out, conv(x, x_0, edge_index))


def test_repr():
    assert repr(WJConv(16, 32, omega='channel')) == (
        "WJConv(16, 32, alpha=0.1, omega='channel')")
    assert repr(WJConv(16, 32, omega='channel',
                       parametrization='separate')) == (
        "WJConv(16, 32, alpha=0.1, omega='channel', "
        "parametrization='separate')")
    assert repr(WJConv(16, 32, num_nodes=17, modulation=True,
                       x0_channels=8)) == (
                           "WJConv(16, 32, alpha=0.1, omega='node', "
                           "x0_channels=8, num_nodes=17, modulation=True)")


@pytest.mark.parametrize('parametrization', ['paper', 'tied'])
def test_jacobi_property_on_karate_club(parametrization):
    """With identity weights the layer is a weighted-Jacobi step, so
    iterating it solves (I + sL) H = X (paper eq. 4; docs/wjconv.rst);
    tied, W1 = W2 = I is the same step."""
    data = KarateClub()[0]
    n = data.num_nodes
    alpha, w = 0.25, 0.8
    conv = WJConv(n, n, alpha=alpha, omega='scalar', bias=False,
                  dense_max_nodes=0, add_self_loops=False,
                  parametrization=parametrization).double()
    with torch.no_grad():
        eye = torch.eye(n, dtype=torch.float64)
        blocks = 1 if parametrization == 'tied' else 2
        conv.lin.weight.copy_(torch.cat([eye] * blocks))
        conv.lin_initial.weight.copy_(eye)
        conv.omega.fill_(w)
    x_0 = torch.randn(n, n, dtype=torch.float64)
    h = torch.randn(n, n, dtype=torch.float64)  # any start
    with torch.no_grad():
        for _ in range(600):
            h = conv(h, x_0, data.edge_index)

    a = torch.zeros(n, n, dtype=torch.float64)
    a[data.edge_index[1], data.edge_index[0]] = 1.0
    d = a.sum(1).rsqrt()
    a_hat = d.view(-1, 1) * a * d.view(1, -1)
    s = 1.0 / alpha - 1.0
    lap = torch.eye(n, dtype=torch.float64) - a_hat
    expected = torch.linalg.solve(torch.eye(n, dtype=torch.float64) + s * lap,
                                  x_0)
    assert (h - expected).abs().max() < 1e-6


class TestBadInput:
    edge_index, _ = random_graph()

    def conv(self, **kwargs):
        return WJConv(4, 3, **kwargs)

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match=r"'x' must have shape .*\[4\]"):
            self.conv()(torch.randn(4), torch.randn(4), self.edge_index)

    def test_mismatched_leading_shapes(self):
        with pytest.raises(ValueError,
                           match=r"'x_0' .* expected \[2, 9, 4\], got "
                           r"\[3, 9, 4\]"):
            self.conv()(torch.randn(2, 9, 4), torch.randn(3, 9, 4),
                        self.edge_index)

    def test_wrong_channels(self):
        with pytest.raises(ValueError, match=r"'x' must have 4 channels.*"
                           r"\[9, 5\]"):
            self.conv()(torch.randn(9, 5), torch.randn(9, 4),
                        self.edge_index)
        with pytest.raises(ValueError, match=r"'x_0' must have 2 channels"):
            self.conv(x0_channels=2)(torch.randn(9, 4), torch.randn(9, 4),
                                     self.edge_index)

    def test_edge_index_out_of_range(self):
        bad = torch.tensor([[0, 9], [1, 2]])
        with pytest.raises(ValueError, match=r"\[0, 9\] but the input has 9 "
                           r"nodes"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4), bad)
        with pytest.raises(ValueError, match=r"\[-1, 2\]"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4),
                        torch.tensor([[0, -1], [1, 2]]))

    def test_edge_index_dtype_and_shape(self):
        with pytest.raises(TypeError, match="'edge_index' must be an integer"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4),
                        self.edge_index.float())
        with pytest.raises(ValueError,
                           match=r"\[2, num_edges\], got \[3, 2\]"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4),
                        torch.zeros(3, 2, dtype=torch.long))
        with pytest.raises(ValueError, match=r"'edge_weight' must have shape "
                           r"\[25\]"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4),
                        self.edge_index, torch.ones(3))

    def test_sparse_adj_wrong_size(self):
        adj = to_torch_csr_tensor(self.edge_index, size=(10, 10))
        with pytest.raises(ValueError, match=r"\[9, 9\] .* got \[10, 10\]"):
            self.conv()(torch.randn(9, 4), torch.randn(9, 4), adj)

    def test_num_nodes_mismatch(self):
        for kwargs in ({'omega': 'node'}, {'modulation': True}):
            conv = self.conv(num_nodes=7, **kwargs)
            with pytest.raises(ValueError, match=r"num_nodes=7 .* 'x' has 9 "
                               r"nodes"):
                conv(torch.randn(9, 4), torch.randn(9, 4), self.edge_index)

    def test_per_node_parameters_need_num_nodes(self):
        with pytest.raises(ValueError, match="needs 'num_nodes'"):
            WJConv(4, 3, omega='node')
        with pytest.raises(ValueError, match="needs 'num_nodes'"):
            WJConv(4, 3, modulation=True)
        with pytest.raises(ValueError, match="'omega' must be one of"):
            WJConv(4, 3, omega='edge')

    def test_integer_features(self):
        with pytest.raises(TypeError, match=r"'x' must be a floating-point "
                           r"tensor, got dtype torch.int64"):
            self.conv()(torch.ones(9, 4, dtype=torch.long),
                        torch.randn(9, 4), self.edge_index)

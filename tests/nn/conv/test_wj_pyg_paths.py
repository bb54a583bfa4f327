"""WJConv on the paths a PyG user takes: explainers, self-loops, flow,
deepcopy, reduced precision, to_hetero, lazy sizes, scripting, and the
documented normalisation (issue 15, sections 2-3)."""
import copy

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
from torch_geometric.nn import GCNConv, to_hetero
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import (
    coalesce,
    to_torch_coo_tensor,
    to_torch_csr_tensor,
)

from pyg_wj import DenseWJConv, WJConv
from pyg_wj.utils import normalize_edge_index
from tests.nn._parameters import randomize

PARAMETRIZATIONS = ['paper', 'separate', 'tied']


def simple_graph(num_nodes, seed=0, loops=False):
    """Directed, no duplicate edges, optionally with some self-loops."""
    g = torch.Generator().manual_seed(seed)
    e = torch.randint(0, num_nodes, (2, 4 * num_nodes), generator=g)
    e = e[:, e[0] != e[1]]
    e = coalesce(e, num_nodes=num_nodes)
    if loops:
        e = torch.cat([e, torch.tensor([[1, 3], [1, 3]])], dim=1)
    w = torch.rand(e.size(1), generator=g) + 0.5
    return e, w




def dense_a_hat(edge_index, weight, n, self_loops):
    """float64 D^-1/2 (A [+ I]) D^-1/2, degree at the target (row)."""
    a = torch.zeros(n, n, dtype=torch.float64)
    for k in range(edge_index.size(1)):
        a[edge_index[1, k], edge_index[0, k]] += float(weight[k])
    if self_loops:
        for i in range(n):
            if a[i, i] == 0:
                a[i, i] = 1.0
    d = a.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0
    return d.view(-1, 1) * a * d.view(1, -1)


def mask_matrix(edge_index, mask, n, self_loops):
    """Entry (i, j) = the mask of edge j -> i; loops the layer adds get 1,
    as in PyG's explain_message."""
    m = torch.zeros(n, n, dtype=torch.float64)
    for k in range(edge_index.size(1)):
        j, i = int(edge_index[0, k]), int(edge_index[1, k])
        if self_loops and i == j:
            continue  # removed, then re-added with mask 1
        m[i, j] = float(mask[k])
    if self_loops:
        m += torch.eye(n, dtype=torch.float64) * (m.diagonal() == 0)
    return m


def wj_reference(conv, x, x_0, a):
    """The WJ rule with a given (already masked) operator, float64."""
    w = conv.lin.weight.double()
    o = conv.out_channels
    w1, w2 = (w.t(), w.t()) if conv.parametrization == 'tied' else (
        w[:o].t(), w[o:].t())
    c = 0.0 if conv.parametrization == 'separate' else -1.0
    omega = (torch.ones(()) if conv.omega is None else conv.omega).double()
    h2 = x.double() @ w2
    out = x.double() @ w1 + omega * (
        (1 - conv.alpha) * a @ h2 + c * h2 +
        conv.alpha * x_0.double() @ conv.lin_initial.weight.double().t())
    return out + conv.bias.double()


@pytest.mark.parametrize('num_nodes', [9, 80])
@pytest.mark.parametrize('layout', ['edge_index', 'EdgeIndex',
                                    'learned_weight'])
@pytest.mark.parametrize('self_loops', [False, True])
@pytest.mark.parametrize('parametrization', PARAMETRIZATIONS)
def test_explain_masks_land_on_their_edges_like_gcn_conv(
        num_nodes, layout, self_loops, parametrization, torch_scatter):
    edge_index, weight = simple_graph(num_nodes, loops=True)
    mask = torch.randn(edge_index.size(1))
    x = torch.randn(num_nodes, 5)
    adj = (EdgeIndex(edge_index, sparse_size=(num_nodes, num_nodes))
           if layout == 'EdgeIndex' else edge_index)
    w = weight.clone().requires_grad_() if layout == 'learned_weight' \
        else weight
    expected_mask = mask_matrix(edge_index, mask.sigmoid(), num_nodes,
                                self_loops)
    a_hat = dense_a_hat(edge_index, weight, num_nodes, self_loops)

    wj = randomize(WJConv(5, 4, add_self_loops=self_loops,
                          parametrization=parametrization))
    gcn = randomize(GCNConv(5, 4, add_self_loops=self_loops))
    for conv, expected in (
            (wj, wj_reference(wj, x, x, a_hat * expected_mask)),
            (gcn, (a_hat * expected_mask) @ (x.double() @
                                             gcn.lin.weight.double().t()) +
             gcn.bias.double())):
        edge_mask = mask.clone().requires_grad_()
        set_masks(conv, edge_mask, edge_index, apply_sigmoid=True)
        try:
            out = (conv(x, x, adj, w) if conv is wj else conv(x, adj, w))
        finally:
            clear_masks(conv)
        torch.testing.assert_close(out.double(), expected, atol=1e-5,
                                   rtol=1e-5, msg=type(conv).__name__)
        # the gradient reaches the mask of every non-loop edge that
        # carries a message (a source of degree 0 sends none)
        out.square().sum().backward()
        live = (edge_index[0] != edge_index[1]) & (
            a_hat[edge_index[1], edge_index[0]] != 0)
        assert edge_mask.grad is not None and live.sum() > 0
        assert (edge_mask.grad[live] != 0).all()


def test_explain_with_modulation_masks_both_directions():
    edge_index, weight = simple_graph(9)
    mask = torch.randn(edge_index.size(1))
    conv = randomize(WJConv(5, 4, num_nodes=9, modulation=True))
    with torch.no_grad():
        conv.Q.zero_()
    x = torch.randn(9, 5)
    set_masks(conv, mask, edge_index, apply_sigmoid=True)
    try:
        out = conv(x, x, edge_index, weight)
    finally:
        clear_masks(conv)
    a = dense_a_hat(edge_index, weight, 9, False) * mask_matrix(
        edge_index, mask.sigmoid(), 9, False)
    expected = wj_reference(conv, x, x, 0.5 * (a + a.t()))
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('num_nodes', [20, 80])
def test_gnn_explainer_runs_and_keeps_the_cache(num_nodes):
    edge_index, _ = simple_graph(num_nodes)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = WJConv(5, 3, cached=True)

        def forward(self, x, edge_index):
            return self.conv(x, x, edge_index)

    model = Net()
    x = torch.randn(num_nodes, 5)
    before = model(x, edge_index)
    explainer = Explainer(
        model, algorithm=GNNExplainer(epochs=3), explanation_type='model',
        edge_mask_type='object',
        model_config=dict(mode='multiclass_classification',
                          task_level='node', return_type='raw'))
    explanation = explainer(x, edge_index, index=0)
    assert explanation.edge_mask.shape == (edge_index.size(1), )
    assert explanation.edge_mask.abs().sum() > 0
    # the explainer's masked graph never replaced the cached one
    torch.testing.assert_close(model(x, edge_index), before)


# -- duplicated weighted self-loops: one rule on every layout ---------------

def duplicate_loop_layouts(n, ei, ew):
    yield 'edge_index', ei, ew
    yield 'EdgeIndex', EdgeIndex(ei, sparse_size=(n, n)), ew
    yield 'coo', to_torch_coo_tensor(ei.flip(0), ew, (n, n)), None
    yield 'csr', to_torch_csr_tensor(ei.flip(0), ew, (n, n)), None
    yield 'learned', ei, ew.clone().requires_grad_()


@pytest.mark.parametrize('num_nodes', [2, 80])
@pytest.mark.parametrize('parametrization', PARAMETRIZATIONS)
def test_duplicated_weighted_self_loop_same_on_every_layout(num_nodes,
                                                            parametrization):
    ei = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 0]])
    ew = torch.tensor([.3, .4, 1., 1.])
    conv = randomize(WJConv(3, 3, add_self_loops=True,
                            parametrization=parametrization))
    x = torch.randn(num_nodes, 3)
    # the adjacency with duplicates summed: A[0, 0] = 0.7
    a_hat = dense_a_hat(ei, ew, num_nodes, True)
    assert a_hat[0, 0] == pytest.approx(0.7 / 1.7)
    expected = wj_reference(conv, x, x, a_hat)
    for name, adj, w in duplicate_loop_layouts(num_nodes, ei, ew):
        torch.testing.assert_close(conv(x, x, adj, w).double(), expected,
                                   atol=1e-5, rtol=1e-5, msg=name)
    dense = DenseWJConv(3, 3, add_self_loops=True,
                        parametrization=parametrization)
    dense.load_state_dict(conv.state_dict())
    adj = torch.zeros(num_nodes, num_nodes)
    adj.index_put_((ei[1], ei[0]), ew, accumulate=True)
    torch.testing.assert_close(dense(x, x, adj).double(), expected,
                               atol=1e-5, rtol=1e-5)


# -- flow, normalisation ----------------------------------------------------

def test_flow_target_to_source_rejected_at_construction():
    with pytest.raises(ValueError, match=r"flow='source_to_target' only, "
                       r"got flow='target_to_source'.*flip\(0\)"):
        WJConv(4, 4, flow='target_to_source')
    with pytest.raises(ValueError, match="aggr='mean'"):
        WJConv(4, 4, aggr='mean')


def test_normalization_is_gcn_norm_with_degree_at_target():
    # directed chain 0 -> 1 -> 2, no self-loops
    chain = torch.tensor([[0, 1], [1, 2]])
    index, weight = normalize_edge_index(chain, None, 3)
    ref_index, ref_weight = gcn_norm(chain, None, 3, add_self_loops=False)
    assert torch.equal(index, ref_index)
    torch.testing.assert_close(weight, ref_weight)
    conv = WJConv(1, 1, add_self_loops=False, omega='none', bias=False,
                  parametrization='separate', alpha=0.0)
    with torch.no_grad():
        conv.lin.weight.copy_(torch.tensor([[0.0], [1.0]]))  # W_s=0, W2=1
    out = conv(torch.tensor([[1.0], [0.0], [0.0]]), torch.zeros(3, 1), chain)
    # node 1 hears node 0 (in-degree 1 at 1, 0 at 0: 1/sqrt(1 * 1)... with
    # the source's degree 0 masked to 0, as gcn_norm does)
    assert out[0].item() == 0.0 and out[2].item() == 0.0
    assert out[1].item() == 0.0  # D^-1/2 of node 0 (in-degree 0) is 0
    # with self-loops node 0 has degree 1 and node 1 hears it
    conv.add_self_loops = True
    out = conv(torch.tensor([[1.0], [0.0], [0.0]]), torch.zeros(3, 1), chain)
    assert out[1].item() == pytest.approx(1 / 2 ** 0.5)
    assert out[2].item() == 0.0


def test_num_nodes_switches_to_the_paper_parametrization():
    general = WJConv(4, 3)
    assert general.parametrization == 'tied' and general.add_self_loops
    assert general.omega is None or general.omega.shape == (3, )
    skeleton = WJConv(4, 3, num_nodes=17)
    assert skeleton.parametrization == 'paper'
    assert not skeleton.add_self_loops
    assert skeleton.omega.shape == (17, 3)  # per node
    assert skeleton.lin.weight.shape == (6, 4)


def test_bias_init():
    assert torch.equal(WJConv(4, 3).bias, torch.zeros(3))
    assert torch.equal(WJConv(4, 3, parametrization='separate').bias,
                       torch.zeros(3))
    # the paper's parametrisation keeps the pose model's initial values
    assert WJConv(4, 3, num_nodes=5).bias.abs().sum() > 0


def test_batch_vector_hint_for_per_node_parameters():
    conv = WJConv(4, 3, num_nodes=5)
    with pytest.raises(ValueError, match=r"num_nodes=5 .* 'x' has 15 nodes"
                       r".*\[B, 5, F\].*to_dense_batch"):
        conv(torch.randn(15, 4), torch.randn(15, 4),
             torch.tensor([[0, 1], [1, 0]]))


# -- deepcopy, reduced precision ----------------------------------------------

@pytest.mark.parametrize('num_nodes', [9, 80])
def test_deepcopy_after_cached_forward(num_nodes):
    edge_index, weight = simple_graph(num_nodes)
    conv = WJConv(4, 4, cached=True)
    x = torch.randn(num_nodes, 4)
    conv(x, x, edge_index, weight).sum().backward()  # caches M and M^T
    best = copy.deepcopy(conv)
    assert torch.equal(best(x, x, edge_index, weight),
                       conv(x, x, edge_index, weight))
    with torch.no_grad():
        best.lin.weight.add_(1.0)
    assert not torch.equal(best.lin.weight, conv.lin.weight)


@pytest.mark.parametrize('num_nodes', [9, 80])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_reduced_precision(num_nodes, dtype):
    edge_index, weight = simple_graph(num_nodes)
    conv = randomize(WJConv(8, 8, cached=True))
    x = torch.randn(num_nodes, 8)
    ref = conv(x, x, edge_index, weight)
    low = copy.deepcopy(conv).to(dtype)
    out = low(x.to(dtype), x.to(dtype), edge_index, weight)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref, atol=0.15, rtol=0.05)
    out.float().sum().backward()  # and its backward
    with torch.autocast('cpu', dtype=torch.bfloat16):
        auto = conv(x, x, edge_index, weight)
    torch.testing.assert_close(auto.float(), ref, atol=0.15, rtol=0.05)


# -- to_hetero, lazy sizes, scripting ---------------------------------------

class HeteroNet(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.conv = WJConv(-1, 4, **kwargs)

    def forward(self, x, edge_index):
        return self.conv(x, x, edge_index)


def test_to_hetero_same_type_edges_and_bipartite_rejected():
    metadata = (['paper'], [('paper', 'cites', 'paper')])
    model = to_hetero(HeteroNet(), metadata)
    x = {'paper': torch.randn(9, 5)}
    ei = {('paper', 'cites', 'paper'): simple_graph(9)[0]}
    assert model(x, ei)['paper'].shape == (9, 4)

    bipartite = (['author', 'paper'], [('author', 'writes', 'paper'),
                                       ('paper', 'cites', 'paper')])
    # PyG refuses self-loops across two node types when converting ...
    with pytest.raises(ValueError, match="'add_self_loops' attribute set to "
                       "'True'"):
        to_hetero(HeteroNet(), bipartite)
    # ... and the layer refuses the (x_src, x_dst) pair when called
    model = to_hetero(HeteroNet(add_self_loops=False), bipartite)
    x = {'author': torch.randn(4, 5), 'paper': torch.randn(9, 5)}
    ei = {('author', 'writes', 'paper'): torch.tensor([[0, 1], [2, 3]]),
          ('paper', 'cites', 'paper'): simple_graph(9)[0]}
    with pytest.raises(TypeError, match=r"'x' must be a torch.Tensor .* got "
                       r"a tuple \(a bipartite pair"):
        model(x, ei)


@pytest.mark.parametrize('cls', [WJConv, DenseWJConv])
def test_lazy_in_channels(cls):
    edge_index, _ = simple_graph(9)
    adj = torch.zeros(9, 9)
    adj[edge_index[1], edge_index[0]] = 1.0
    graph = edge_index if cls is WJConv else adj
    lazy = cls(-1, 3)
    x, x_0 = torch.randn(9, 6), torch.randn(9, 2)
    out = lazy(x, x_0, graph)
    assert out.shape == (9, 3)
    assert lazy.in_channels == 6 and lazy.x0_channels == 2
    assert lazy.lin.weight.shape == (3, 6)
    eager = cls(6, 3, x0_channels=2)
    eager.load_state_dict(lazy.state_dict())
    torch.testing.assert_close(eager(x, x_0, graph), out)
    # an optimizer built after the first call trains it
    opt = torch.optim.SGD(lazy.parameters(), lr=0.1)
    lazy(x, x_0, graph).sum().backward()
    opt.step()
    assert not torch.equal(lazy.lin.weight, eager.lin.weight)


def test_jit_script_rejected_clearly():
    with pytest.raises(RuntimeError, match="does not support torch.jit.script"
                       ".*torch.compile"):
        torch.jit.script(WJConv(4, 4))
    torch.jit.script(GCNConv(4, 4))  # PyG's layer scripts

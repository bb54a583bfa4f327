"""A NaN in one node's features: how far it spreads depends on the
aggregation path, as docs/wjconv.rst says (a NaN input is the caller's
to catch; the layer does not pay a mask on every call to tidy it)."""
import torch

from pyg_wj import DenseWJConv, WJConv


def _path_graph(n=6):
    src = torch.arange(n - 1)
    return torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])


def _nan_rows(out):
    return torch.isnan(out).any(-1).nonzero().flatten().tolist()


def test_sparse_paths_spread_a_nan_to_the_neighbours_only():
    edge_index = _path_graph()
    x = torch.randn(6, 4)
    x[0, 1] = float('nan')
    conv = WJConv(4, 3, dense_max_nodes=0)  # CSR
    assert _nan_rows(conv(x, x, edge_index)) == [0, 1]


def test_dense_paths_spread_a_nan_to_every_node():
    """0 * NaN is NaN: the dense matmul reaches every row, also the rows
    of nodes that are not neighbours."""
    edge_index = _path_graph()
    x = torch.randn(6, 4)
    x[0, 1] = float('nan')
    conv = WJConv(4, 3)  # 6 nodes <= dense_max_nodes: dense matmul
    assert _nan_rows(conv(x, x, edge_index)) == list(range(6))
    dense = DenseWJConv(4, 3)
    dense.load_state_dict(conv.state_dict())
    adj = torch.zeros(6, 6)
    adj[edge_index[1], edge_index[0]] = 1.0
    assert _nan_rows(dense(x, x, adj)) == list(range(6))


def test_finite_inputs_agree_across_the_paths():
    edge_index = _path_graph()
    x = torch.randn(6, 4)
    sparse = WJConv(4, 3, dense_max_nodes=0)
    dense = WJConv(4, 3)
    dense.load_state_dict(sparse.state_dict())
    torch.testing.assert_close(sparse(x, x, edge_index),
                               dense(x, x, edge_index))

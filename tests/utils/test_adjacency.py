import torch

from pyg_wj.utils import (
    adjacency_diagonal,
    csr_matmul,
    edge_index_to_csr,
    edge_index_to_dense,
    normalize_dense_adj,
    normalize_edge_index,
)


def test_normalize_edge_index_matches_dense():
    edge_index = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 3]])
    weight = torch.tensor([1.0, 1.0, 2.0, 2.0, 0.5])
    index, w = normalize_edge_index(edge_index, weight, 5)
    dense = edge_index_to_dense(index, w, 5)
    raw = edge_index_to_dense(edge_index, weight, 5)
    torch.testing.assert_close(dense, normalize_dense_adj(raw))
    # node 4 is isolated: its row and column stay zero, no inf / NaN
    assert torch.isfinite(dense).all() and dense[4].abs().sum() == 0
    # degree of node 1 is 3: entry (1, 0) = 1 / sqrt(3 * 1)
    torch.testing.assert_close(dense[1, 0], torch.tensor(3.0).rsqrt())


def test_symmetrize_of_directed_graph():
    edge_index = torch.tensor([[0], [1]])
    index, w = normalize_edge_index(edge_index, None, 2, normalize=False,
                                    symmetrize=True)
    dense = edge_index_to_dense(index, w, 2)
    torch.testing.assert_close(dense, torch.tensor([[0.0, 0.5], [0.5, 0.0]]))


def test_self_loops_and_diagonal():
    edge_index = torch.tensor([[0, 1, 1], [1, 0, 1]])
    weight = torch.tensor([1.0, 1.0, 3.0])
    index, w = normalize_edge_index(edge_index, weight, 3, normalize=False,
                                    add_self_loops=True)
    # existing loop keeps its weight, missing loops get 1
    torch.testing.assert_close(adjacency_diagonal(index, w, 3),
                               torch.tensor([1.0, 3.0, 1.0]))


def test_csr_is_transposed_adjacency():
    edge_index = torch.tensor([[0, 2], [1, 1]])  # 0 -> 1, 2 -> 1
    csr = edge_index_to_csr(edge_index, torch.tensor([1.0, 2.0]), 3)
    assert csr.layout == torch.sparse_csr
    x = torch.tensor([[1.0], [10.0], [100.0]])
    torch.testing.assert_close(csr @ x, torch.tensor([[0.0], [201.0],
                                                      [0.0]]))


def test_csr_matmul_gradient_uses_the_given_transpose():
    dense = torch.randn(6, 6) * (torch.rand(6, 6) < 0.4)  # not symmetric
    adj_t = dense.to_sparse_csr()
    adj = dense.t().contiguous().to_sparse_csr()
    x = torch.randn(6, 3, requires_grad=True)
    out = csr_matmul(adj_t, adj, x)
    torch.testing.assert_close(out, dense @ x)
    grad_out = torch.randn(6, 3)
    grad, = torch.autograd.grad(out, x, grad_out)
    torch.testing.assert_close(grad, dense.t() @ grad_out)

r"""Turning a user's graph into the normalised adjacency the WJ layers use.

Conventions follow PyG: an ``edge_index`` column ``(j, i)`` is an edge from
source ``j`` to target ``i``, and the aggregation is
:math:`\mathbf{h}'_i = \sum_j \hat{A}_{ij} \mathbf{h}_j`. A ``torch.sparse``
adjacency is read as PyG's transposed ``adj_t`` (row = target), and a dense
``adj`` as :math:`A_{ij}` = weight of the edge ``j -> i``, which is the same
thing. All three give the same :math:`\hat{A}`.
"""
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import (add_remaining_self_loops, coalesce,
                                   is_torch_sparse_tensor, scatter,
                                   to_edge_index)

from pyg_wj.utils.validation import check_edge_index, check_edge_weight

__all__ = ['as_edge_index', 'normalize_edge_index', 'jacobi_edges',
           'edge_index_to_csr',
           'edge_index_to_dense', 'normalize_dense_adj', 'adjacency_diagonal']


def as_edge_index(adj: Tensor, edge_weight: Optional[Tensor],
                  num_nodes: int) -> Tuple[Tensor, Optional[Tensor]]:
    """Any supported graph input as a plain ``(edge_index, edge_weight)``.

    Accepts a ``[2, E]`` integer tensor, PyG's ``EdgeIndex`` or a
    ``torch.sparse`` COO/CSR ``adj_t`` of shape ``[N, N]``.
    """
    if not isinstance(adj, Tensor):
        raise TypeError(f"'edge_index' must be a LongTensor [2, num_edges], "
                        f"a torch.sparse adjacency or an EdgeIndex, got "
                        f"{type(adj).__name__}")
    if is_torch_sparse_tensor(adj):
        if adj.layout == torch.sparse_csc:
            raise TypeError("'edge_index' as a sparse CSC tensor is not "
                            "supported: pass COO or CSR (adj_t, row = target)")
        if adj.dim() != 2 or tuple(adj.shape) != (num_nodes, num_nodes):
            raise ValueError(f"sparse 'edge_index' (adj_t) must have shape "
                             f"[{num_nodes}, {num_nodes}] for an input with "
                             f"{num_nodes} nodes, got {list(adj.shape)}")
        if edge_weight is not None:
            raise ValueError("'edge_weight' must be None when 'edge_index' is "
                             "a sparse tensor: its values are the weights")
        index, value = to_edge_index(adj)  # rows are targets (adj_t)
        return index.flip(0), value
    if type(adj) is not Tensor:  # EdgeIndex and other Tensor subclasses
        size = getattr(adj, 'sparse_size', None)
        if callable(size):
            rows, cols = size()
            for s in (rows, cols):
                if s is not None and s != num_nodes:
                    raise ValueError(f"'edge_index' has sparse_size "
                                     f"{size()} but the input has "
                                     f"{num_nodes} nodes")
        as_tensor = getattr(adj, 'as_tensor', None)
        adj = as_tensor() if callable(as_tensor) else adj.as_subclass(Tensor)
    check_edge_index(adj, num_nodes)
    check_edge_weight(edge_weight, adj.size(1))
    return adj, edge_weight


def normalize_edge_index(
    edge_index: Tensor,
    edge_weight: Optional[Tensor],
    num_nodes: int,
    normalize: bool = True,
    add_self_loops: bool = False,
    symmetrize: bool = False,
    dtype: torch.dtype = torch.float,
) -> Tuple[Tensor, Tensor]:
    r"""Weights of :math:`\hat{A} = D^{-1/2} A D^{-1/2}` per edge.

    With ``symmetrize=True`` the result is :math:`(\hat{A} +
    \hat{A}^\top)/2`, as the paper's adjacency modulation does; for an
    undirected graph that leaves :math:`\hat{A}` unchanged.
    """
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=dtype,
                                 device=edge_index.device)
    else:
        edge_weight = edge_weight.to(dtype)
    if add_self_loops:
        edge_index, edge_weight = add_remaining_self_loops(
            edge_index, edge_weight, 1.0, num_nodes)
    if normalize:
        src, dst = edge_index[0], edge_index[1]
        deg = scatter(edge_weight, dst, dim=0, dim_size=num_nodes,
                      reduce='sum')
        deg_inv_sqrt = deg.pow(-0.5)
        deg_inv_sqrt = deg_inv_sqrt.masked_fill(torch.isinf(deg_inv_sqrt), 0.)
        edge_weight = deg_inv_sqrt[src] * edge_weight * deg_inv_sqrt[dst]
    if symmetrize:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        edge_weight = torch.cat([edge_weight, edge_weight]) * 0.5
    edge_index, edge_weight = coalesce(edge_index, edge_weight, num_nodes)
    return edge_index, edge_weight


def jacobi_edges(edge_index: Tensor, edge_weight: Tensor, num_nodes: int,
                 alpha: float) -> Tuple[Tensor, Tensor]:
    r"""Edges of :math:`M = (1 - \alpha)\hat{A} - I`.

    One product with :math:`M` yields both the neighbour term and the
    :math:`-H W_2` term of the WJ rule, so the layer makes a single pass.
    """
    loops = torch.arange(num_nodes, device=edge_index.device)
    index = torch.cat([edge_index, loops.expand(2, -1)], dim=1)
    weight = torch.cat([edge_weight * (1.0 - alpha),
                        edge_weight.new_full((num_nodes, ), -1.0)])
    return coalesce(index, weight, num_nodes)


def edge_index_to_csr(edge_index: Tensor, edge_weight: Tensor,
                      num_nodes: int) -> Tensor:
    """``adj_t`` in CSR (row = target), the layout ``torch.sparse.mm`` is
    fastest with on CPU."""
    index, weight = coalesce(edge_index.flip(0), edge_weight, num_nodes)
    with warnings.catch_warnings():  # "CSR support is in beta state"
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_coo_tensor(
            index, weight, (num_nodes, num_nodes)).to_sparse_csr()


class CSRProduct(torch.autograd.Function):
    """``adj_t @ x`` whose backward multiplies by ``adj``, a transpose of
    ``adj_t`` built beforehand. ``torch.sparse.mm``'s own backward
    transposes (sorts) ``adj_t`` on every call instead."""

    @staticmethod
    def forward(ctx, adj_t: Tensor, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        return torch.sparse.mm(adj_t, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        adj, = ctx.saved_tensors
        return None, None, torch.sparse.mm(adj, grad.contiguous())


def csr_matmul(adj_t: Tensor, adj: Tensor, x: Tensor) -> Tensor:
    """``adj_t @ x`` for a sparse ``[N, N]`` ``adj_t`` and a dense ``[N, F]``
    ``x``, differentiable in ``x``; ``adj`` must be ``adj_t`` transposed
    (CSR), and is what the backward pass multiplies by. Worth it when the
    same matrix serves many backward passes (a cached, static graph)."""
    return CSRProduct.apply(adj_t, adj, x)

def edge_index_to_dense(edge_index: Tensor, edge_weight: Tensor,
                        num_nodes: int) -> Tensor:
    """Dense ``[N, N]`` matrix with ``A[i, j]`` = weight of edge ``j -> i``
    (duplicate edges add up)."""
    dense = edge_weight.new_zeros(num_nodes, num_nodes)
    dense.index_put_((edge_index[1], edge_index[0]), edge_weight,
                     accumulate=True)
    return dense


def normalize_dense_adj(adj: Tensor, normalize: bool = True,
                        add_self_loops: bool = False,
                        symmetrize: bool = False) -> Tensor:
    r"""Dense counterpart of :func:`normalize_edge_index` for ``[*, N, N]``.
    """
    if add_self_loops:
        adj = adj.clone()
        diag = adj.diagonal(dim1=-2, dim2=-1)
        # add_remaining_self_loops keeps an existing self-loop's weight
        diag.copy_(torch.where(diag == 0, torch.ones_like(diag), diag))
    if normalize:
        deg_inv_sqrt = adj.sum(dim=-1).pow(-0.5)
        deg_inv_sqrt = deg_inv_sqrt.masked_fill(torch.isinf(deg_inv_sqrt), 0.)
        adj = deg_inv_sqrt.unsqueeze(-1) * adj * deg_inv_sqrt.unsqueeze(-2)
    if symmetrize:
        adj = 0.5 * (adj + adj.transpose(-2, -1))
    return adj


def adjacency_diagonal(edge_index: Tensor, edge_weight: Tensor,
                       num_nodes: int) -> Tensor:
    """Diagonal of the adjacency given by edges (self-loop weights)."""
    loop = edge_index[0] == edge_index[1]
    return scatter(edge_weight[loop], edge_index[0][loop], dim=0,
                   dim_size=num_nodes, reduce='sum')

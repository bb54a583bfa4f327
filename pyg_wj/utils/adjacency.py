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
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import (
    coalesce,
    is_torch_sparse_tensor,
    scatter,
    to_edge_index,
)

from pyg_wj.utils.validation import check_edge_index, check_edge_weight

__all__ = ['as_edge_index', 'fill_self_loops', 'normalize_edge_index',
           'jacobi_edges',
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
        return _sparse_to_edge_index(adj)
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
    return adj.long(), edge_weight


def fill_self_loops(edge_index: Tensor, edge_weight: Tensor,
                    num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""Self-loops by the rule all the WJ layouts share: the adjacency an
    ``edge_index`` describes sums duplicate edges (as message passing, a
    ``torch.sparse`` ``adj_t`` and a dense ``adj`` do), and a node whose
    self-loop weight is then zero gets a loop of weight one; an existing
    loop keeps its (summed) weight, as in PyG's
    :func:`~torch_geometric.utils.add_remaining_self_loops`.

    The layout is that of ``add_remaining_self_loops``: the non-loop edges
    in their order, then one loop per node, ``0 .. N-1``, so explainers'
    edge masks line up as they do for :class:`~torch_geometric.nn.GCNConv`.
    (``add_remaining_self_loops`` itself keeps only one of several weighted
    loops of a node, which a sparse or dense adjacency cannot express.)
    """
    row, col = edge_index[0], edge_index[1]
    is_loop = row == col
    loop_weight = scatter(edge_weight * is_loop.to(edge_weight.dtype), row,
                          dim=0, dim_size=num_nodes, reduce='sum')
    loop_weight = torch.where(loop_weight == 0,
                              torch.ones_like(loop_weight), loop_weight)
    keep = ~is_loop
    loops = torch.arange(num_nodes, device=edge_index.device)
    edge_index = torch.cat([edge_index[:, keep], loops.expand(2, -1)], dim=1)
    edge_weight = torch.cat([edge_weight[keep], loop_weight])
    return edge_index, edge_weight


@torch.compiler.disable
def _sparse_to_edge_index(adj: Tensor) -> Tuple[Tensor, Tensor]:
    """``(edge_index, weight)`` of a ``torch.sparse`` ``adj_t`` (rows are
    targets). Run eagerly: the compiler does not trace sparse layouts."""
    index, value = to_edge_index(adj)
    return index.flip(0).contiguous(), value.clone()


def normalize_edge_index(
    edge_index: Tensor,
    edge_weight: Optional[Tensor],
    num_nodes: int,
    normalize: bool = True,
    add_self_loops: bool = False,
    symmetrize: bool = False,
    dtype: torch.dtype = torch.float,
) -> Tuple[Tensor, Tensor]:
    r"""Weights of :math:`\hat{A} = D^{-1/2} A D^{-1/2}` per edge, with
    PyG's :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`: the degree
    :math:`d_i = \sum_j A_{ij}` is counted at the *target* node ``i`` of the
    edges ``j -> i``. (On a directed chain ``0 -> 1 -> 2`` without
    self-loops node 1 hears node 0, node 0 hears nobody.)

    Self-loops follow :func:`fill_self_loops`. The edges keep their order
    (loops appended), so per-edge masks still apply. With
    ``symmetrize=True`` the result is :math:`(\hat{A} + \hat{A}^\top)/2`,
    as the paper's adjacency modulation does (the edges, then the same
    edges reversed); for an undirected graph that leaves :math:`\hat{A}`
    unchanged.
    """
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=dtype,
                                 device=edge_index.device)
    else:
        edge_weight = edge_weight.to(dtype)
    if add_self_loops:
        # not gcn_norm(add_self_loops=True): its add_remaining_self_loops
        # keeps one of several loops of a node instead of their sum, and
        # keeps an explicit zero-weight loop at zero, where the rule every
        # layout shares (docs/wjconv.rst) sums them and fills a zero with
        # one; the edge layout it produces is the same
        edge_index, edge_weight = fill_self_loops(edge_index, edge_weight,
                                                  num_nodes)
    if normalize:
        edge_index, edge_weight = gcn_norm(edge_index, edge_weight,
                                           num_nodes, add_self_loops=False)
    if symmetrize:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        edge_weight = torch.cat([edge_weight, edge_weight]) * 0.5
    return edge_index, edge_weight


def jacobi_edges(edge_index: Tensor, edge_weight: Tensor, num_nodes: int,
                 alpha: float, self_coefficient: float = -1.0
                 ) -> Tuple[Tensor, Tensor]:
    r"""Edges of :math:`C = (1 - \alpha)\hat{A} + cI` (``c =
    self_coefficient``; eq. (6) has :math:`c = -1`), coalesced.

    One product with :math:`C` yields both the neighbour term and the
    :math:`-H W_2` term of the WJ rule, so the layer makes a single pass.
    """
    if self_coefficient == 0.0:
        return coalesce(edge_index, edge_weight * (1.0 - alpha), num_nodes)
    loops = torch.arange(num_nodes, device=edge_index.device)
    index = torch.cat([edge_index, loops.expand(2, -1)], dim=1)
    weight = torch.cat([edge_weight * (1.0 - alpha),
                        edge_weight.new_full((num_nodes, ),
                                             self_coefficient)])
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

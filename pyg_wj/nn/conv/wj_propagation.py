"""How :class:`~pyg_wj.nn.WJConv` applies its Jacobi operator to
``x W2`` on a general graph: the normalised graph in one of four forms
(diagonal, per-edge messages, dense, CSR), the CSR product with a
prebuilt transpose for the backward pass, and PyG's message-passing hooks.
"""
import copy
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import spmm

from pyg_wj.utils.adjacency import (
    adjacency_diagonal,
    as_edge_index,
    csr_matmul,
    edge_index_to_csr,
    edge_index_to_dense,
    jacobi_edges,
    normalize_edge_index,
)
from pyg_wj.utils.validation import check_weight_values


class _Graph(NamedTuple):
    r"""The graph in the one form the layer will use (the other fields stay
    ``None``; build it by name). The CSR form holds :math:`M = (1-\alpha)
    \hat{A} + cI` (see :func:`jacobi_edges`), the message form the edges of
    :math:`(1-\alpha)\hat{A}`; the dense and diagonal forms hold
    :math:`\hat{A}`, to which the (learnable) modulation is added at every
    call."""
    num_nodes: int
    edge_index: Optional[Tensor] = None  # messages (learnable weights)
    edge_weight: Optional[Tensor] = None
    csr: Optional[Tensor] = None  # M as adj_t for torch.sparse.mm
    csr_transposed: Optional[Tensor] = None  # M^T, built at first backward
    dense: Optional[Tensor] = None  # A_hat [N, N] for small graphs
    diagonal: Optional[Tensor] = None  # diag(A_hat), the authors' variant

    def __deepcopy__(self, memo) -> '_Graph':
        # torch cannot deep-copy a sparse CSR tensor (no storage): clone it,
        # so `best = copy.deepcopy(model)` works after a cached forward
        return _Graph(*(copy.deepcopy(v, memo) if not isinstance(v, Tensor)
                        or v.layout == torch.strided else v.clone()
                        for v in self))


def _graph_form(index: Tensor, weight: Tensor, num_nodes: int, *,
                alpha: float, self_coefficient: float,
                authors_diagonal: bool, messages: bool,
                dense_max_nodes: int) -> _Graph:
    """The normalised graph ``(index, weight)`` in the form the layer will
    aggregate with: the diagonal only (the authors' variant), per-edge
    messages, a dense ``[N, N]`` matrix for small graphs, CSR otherwise."""
    if authors_diagonal:
        return _Graph(num_nodes,
                      diagonal=adjacency_diagonal(index, weight, num_nodes))
    if messages:
        return _Graph(num_nodes, edge_index=index,
                      edge_weight=weight * (1.0 - alpha))
    if num_nodes <= dense_max_nodes:
        return _Graph(num_nodes,
                      dense=edge_index_to_dense(index, weight, num_nodes))
    index, weight = jacobi_edges(index, weight, num_nodes, alpha,
                                 self_coefficient)
    return _Graph(num_nodes, csr=edge_index_to_csr(index, weight, num_nodes))


class WJPropagation(MessagePassing):
    """Mixin of :class:`~pyg_wj.nn.WJConv`: graph normalisation and the
    aggregation of ``x W2``, on top of PyG's ``MessagePassing``. It reads
    the layer's settings (``alpha``, ``normalize``, ``add_self_loops``,
    ``modulation``, ``authors_diagonal``, ``dense_max_nodes``) and the
    Jacobi operator of :class:`~pyg_wj.nn.wj_rule.WJRule`."""

    _cached_graph: Optional[_Graph]

    def _normalized_graph(self, edge_index: Adj, edge_weight: OptTensor,
                          num_nodes: int, x: Tensor,
                          explain: bool) -> Tuple[_Graph, bool]:
        """The normalised graph in its form (see :func:`_graph_form`), and
        whether its weights are learned (then it must not be cached)."""
        index, weight = as_edge_index(edge_index, edge_weight, num_nodes)
        if weight is not None:
            check_weight_values(weight, self.normalize)
        learned = weight is not None and weight.requires_grad
        # the graph in fp32 (fp64 for fp64 inputs), cast where it is used
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        index, weight = normalize_edge_index(
            index, weight, num_nodes, self.normalize, self.add_self_loops,
            symmetrize=self.modulation, dtype=dtype)
        # messages along the edges in their order (loops appended), so an
        # explainer's edge mask lands on the edge it belongs to; a compiler
        # traces this path (gather/scatter) instead of CSR
        messages = (learned or explain or
                    (num_nodes > self.dense_max_nodes and
                     torch.compiler.is_compiling()))
        graph = _graph_form(
            index, weight, num_nodes, alpha=self.alpha,
            self_coefficient=self._self_coefficient,
            authors_diagonal=self.authors_diagonal, messages=messages,
            dense_max_nodes=self.dense_max_nodes)
        return graph, learned

    def _propagate_jacobi(self, graph: _Graph, h: Tensor) -> Tensor:
        r""":math:`C h = (1-\alpha)\check{A} h + c h` (or its diagonal
        part), :math:`c` = :attr:`_self_coefficient`."""
        if graph.diagonal is not None:
            return self._jacobi_diagonal(graph.diagonal.to(h.dtype)) * h
        if graph.dense is not None:
            return torch.matmul(self._jacobi_dense(graph.dense.to(h.dtype)),
                                h)
        if graph.csr is not None:  # M holds the c h term
            out = self._propagate_csr(graph, h)
        else:
            out = self.propagate(graph.edge_index, x=h,
                                 edge_weight=graph.edge_weight.to(h.dtype),
                                 adj=None)
            c = self._self_coefficient
            if c != 0.0:
                out = out + h * c
        q = self.symmetric_modulation()
        if q is not None:
            out = out + torch.matmul(q.to(h.dtype) * (1.0 - self.alpha), h)
        return out

    def _propagate_csr(self, graph: _Graph, h: Tensor) -> Tensor:
        """``M h`` with the cached CSR operator ``M``."""
        # the CSR product (MKL) has no bf16/fp16 kernel: run it in fp32
        hc = h if h.dtype in (torch.float32, torch.float64) else h.float()
        transposed = None
        if hc.requires_grad and torch.is_grad_enabled():
            transposed = self._transposed_operator(graph).to(hc.dtype)
        # (also under autocast, which would pick bf16 for it)
        with torch.autocast(hc.device.type, enabled=False):
            out = self.propagate(graph.csr.to(hc.dtype), x=hc,
                                 edge_weight=None, adj=transposed)
        return out.to(h.dtype)

    def _transposed_operator(self, graph: _Graph) -> Tensor:
        """``M^T`` in CSR, for the backward pass: built once per cached
        graph, where torch's own backward of a CSR product would transpose
        (sort) ``M`` again on every call."""
        if graph.csr_transposed is not None:
            return graph.csr_transposed
        assert graph.csr is not None
        transposed = graph.csr.t().to_sparse_csr()
        if self._cached_graph is graph:
            self._cached_graph = graph._replace(csr_transposed=transposed)
        return transposed

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor,
                              adj: OptTensor = None) -> Tensor:
        """``adj_t @ x``; with ``adj`` (``adj_t`` transposed, CSR) given,
        the backward pass multiplies by it instead of transposing
        ``adj_t``."""
        moved = x.movedim(-2, 0)
        # torch.sparse.mm multiplies 2-D operands only: lay the batch out
        # along the columns, [N, *, F] -> [N, prod(*) * F].
        flat = moved.reshape(moved.size(0), -1)
        if adj is not None:
            out = csr_matmul(adj_t, adj, flat)
        else:
            out = spmm(adj_t, flat, reduce='sum')
        return out.view(moved.shape).movedim(0, -2)

    def explain_message(self, inputs: Tensor,
                        dim_size: Optional[int]) -> Tensor:
        """PyG's edge masking; with ``modulation=True`` the adjacency is
        symmetrised, every edge sending both ways, and both messages of an
        edge get its mask."""
        if self.modulation:
            first, second = inputs.chunk(2, dim=self.node_dim)
            return torch.cat([super().explain_message(first, dim_size),
                              super().explain_message(second, dim_size)],
                             dim=self.node_dim)
        return super().explain_message(inputs, dim_size)


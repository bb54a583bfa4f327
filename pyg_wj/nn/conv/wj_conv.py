import copy
from typing import NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import spmm

from pyg_wj.nn.wj_parameters import WJParameters
from pyg_wj.utils.adjacency import (
    adjacency_diagonal,
    as_edge_index,
    csr_matmul,
    edge_index_to_csr,
    edge_index_to_dense,
    jacobi_edges,
    normalize_edge_index,
)
from pyg_wj.utils.validation import (
    check_weight_values,
)


class _Graph(NamedTuple):
    r"""The graph in the one form the layer will use. The sparse forms hold
    :math:`M = (1-\alpha)\hat{A} - I` (see :func:`jacobi_edges`); the dense
    and diagonal forms hold :math:`\hat{A}`, to which the (learnable)
    modulation is added at every call."""
    num_nodes: int
    edge_index: Optional[Tensor]  # message path (learnable edge weights)
    edge_weight: Optional[Tensor]
    csr: Optional[Tensor]  # M as adj_t for torch.sparse.mm
    csr_transposed: Optional[Tensor]  # M^T, built for the first backward
    dense: Optional[Tensor]  # A_hat [N, N] for small graphs
    diagonal: Optional[Tensor]  # diag(A_hat) for the authors' variant

    def __deepcopy__(self, memo) -> '_Graph':
        # torch cannot deep-copy a sparse CSR tensor (no storage): clone it,
        # so `best = copy.deepcopy(model)` works after a cached forward
        return _Graph(*(copy.deepcopy(v, memo) if not isinstance(v, Tensor)
                        or v.layout == torch.strided else v.clone()
                        for v in self))


class WJConv(WJParameters, MessagePassing):
    r"""The weighted-Jacobi graph layer from the `"Spatio-Temporal
    MLP-Graph Network for 3D Human Pose Estimation"
    <https://arxiv.org/abs/2308.15313>`_ paper (eq. 6)

    .. math::
        \mathbf{X}^{\prime} = \mathbf{X}\mathbf{W}_1
        - \mathbf{\Omega} \odot (\mathbf{X}\mathbf{W}_2)
        + (1 - \alpha)\, \mathbf{\Omega} \odot
          (\mathbf{\check{A}} \mathbf{X}\mathbf{W}_2)
        + \alpha\, \mathbf{\Omega} \odot (\mathbf{X}^{(0)}\mathbf{W}_3)
        + \mathbf{b},

    where :math:`\mathbf{X}^{(0)}` are the layer's initial features and
    :math:`\mathbf{\check{A}} = \mathbf{\hat{A}}` or, with adjacency
    modulation, :math:`\mathbf{\check{A}} = \frac{1}{2}\big((\mathbf{\hat{A}}
    + \mathbf{Q}) + (\mathbf{\hat{A}} + \mathbf{Q})^\top\big)` with a
    learnable dense :math:`\mathbf{Q}`, and :math:`\mathbf{\hat{A}} =
    \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`.

    With :math:`\mathbf{W}_1 = \mathbf{W}_2 = \mathbf{W}_3 = \mathbf{I}`,
    a scalar :math:`\mathbf{\Omega} = \omega`, no modulation and no bias,
    the layer is one weighted-Jacobi step for the implicit-fairing system
    :math:`(\mathbf{I} + s\mathbf{L})\mathbf{H} = \mathbf{X}^{(0)}` with
    :math:`\mathbf{L} = \mathbf{I} - \mathbf{\hat{A}}` and
    :math:`\alpha = 1 / (1 + s)` (paper eq. 4).

    The two products with :math:`\mathbf{X}` run as one GEMM. Aggregation
    uses a dense matmul on graphs of at most :obj:`dense_max_nodes` nodes
    (skeletons), a cached CSR sparse matmul otherwise, and per-edge
    messages only when :obj:`edge_weight` requires a gradient.

    On general graphs (no :obj:`num_nodes`) the default is
    :obj:`parametrization="tied"`: :math:`\mathbf{W}_1 = \mathbf{W}_2 =
    \mathbf{W}` and :math:`\mathbf{\Omega} = 1` with self-loops, i.e.
    :math:`(1-\alpha)\mathbf{\hat{A}}\mathbf{X}\mathbf{W} +
    \alpha\mathbf{X}^{(0)}\mathbf{W}_3 + \mathbf{b}`, one plain Jacobi
    step, which smooths like GCNConv. Eq. (6) with separate weights starts
    (and stays) a negative Laplacian on such graphs, pushing a node away
    from its neighbours (the node-classification benchmark in
    ``docs/wjconv.rst`` compares the parametrisations). :obj:`"separate"` is
    :math:`\mathbf{X}\mathbf{W}_s + \mathbf{\Omega}\odot((1-\alpha)
    \check{\mathbf{A}}\mathbf{X}\mathbf{W}_2 + \alpha\mathbf{X}^{(0)}
    \mathbf{W}_3) + \mathbf{b}`, the function set of eq. (6) (:math:`W_1 =
    W_s + W_2 \operatorname{diag}\Omega`). Passing :obj:`num_nodes` (a fixed
    skeleton) selects the paper's parametrisation, per-node
    :math:`\mathbf{\Omega}` and no self-loops.

    The normalisation is PyG's :func:`~torch_geometric.nn.conv.gcn_conv.
    gcn_norm`: degrees are counted at the *target* node. Duplicate edges add
    up (as in a sparse or dense adjacency), and with self-loops a node whose
    summed loop weight is zero gets weight one. Only
    :obj:`flow="source_to_target"` is supported (reverse a graph with
    ``edge_index.flip(0)``); :obj:`in_channels=-1` is lazy. Explainers'
    edge masks apply on every layout (the layer then passes per-edge
    messages). ``torch.jit.script`` is not supported; ``torch.compile``
    (also :obj:`fullgraph=True`) is.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of each output sample.
        alpha (float, optional): Strength :math:`\alpha` of the initial
            features. (default: :obj:`0.1`)
        omega (str, optional): Shape of :math:`\mathbf{\Omega}`:
            :obj:`"node"` (``[num_nodes, out_channels]``, the paper's),
            :obj:`"channel"` (``[out_channels]``), :obj:`"scalar"` or
            :obj:`"none"` (:math:`\mathbf{\Omega} = 1`). (default:
            :obj:`"node"` if :obj:`num_nodes` is given, else :obj:`"none"`
            when tied and :obj:`"channel"` otherwise)
        num_nodes (int, optional): Number of nodes of the (fixed) graph;
            needed by :obj:`omega="node"` and :obj:`modulation=True`.
        modulation (bool, optional): Learn the adjacency modulation
            :math:`\mathbf{Q}` (``[num_nodes, num_nodes]``, initialised to
            :obj:`1e-6`). (default: :obj:`False`)
        x0_channels (int, optional): Channels of the initial features
            :math:`\mathbf{X}^{(0)}`. (default: :obj:`in_channels`)
        cached (bool, optional): Cache the normalised adjacency on the first
            call, for a graph that never changes. (default: :obj:`False`)
        normalize (bool, optional): Apply :math:`\mathbf{D}^{-1/2}
            \mathbf{A}\mathbf{D}^{-1/2}`; set :obj:`False` to pass an
            adjacency that is already normalised. (default: :obj:`True`)
        add_self_loops (bool, optional): Add self-loops before normalising.
            The paper does not. (default: :obj:`True` without
            :obj:`num_nodes`, :obj:`False` with it)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        authors_diagonal (bool, optional): Reproduce the authors' public
            code, which multiplies each node by the *diagonal* of
            :math:`\mathbf{\check{A}}` instead of aggregating neighbours.
            Only for comparisons. (default: :obj:`False`)
        dense_max_nodes (int, optional): Graphs with at most this many nodes
            aggregate with a dense matmul. (default: :obj:`64`)
        parametrization (str, optional): :obj:`"paper"` (eq. 6),
            :obj:`"separate"` or :obj:`"tied"`, see above. (default:
            :obj:`"paper"` with :obj:`num_nodes`, else :obj:`"tied"`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(*, |\mathcal{V}|, F_{in})`,
          initial features :math:`(*, |\mathcal{V}|, F_{0})`,
          edge indices :math:`(2, |\mathcal{E}|)` or a sparse
          :math:`(|\mathcal{V}|, |\mathcal{V}|)` ``adj_t``,
          edge weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(*, |\mathcal{V}|, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int,
                 alpha: float = 0.1, omega: Optional[str] = None,
                 num_nodes: Optional[int] = None, modulation: bool = False,
                 x0_channels: Optional[int] = None, cached: bool = False,
                 normalize: bool = True,
                 add_self_loops: Optional[bool] = None, bias: bool = True,
                 authors_diagonal: bool = False, dense_max_nodes: int = 64,
                 parametrization: Optional[str] = None, **kwargs):
        flow = kwargs.get('flow', 'source_to_target')
        if flow != 'source_to_target':
            raise ValueError(f"WJConv supports flow='source_to_target' only, "
                             f"got flow={flow!r}: pass edge_index.flip(0) "
                             f"(or adj_t.t()) to reverse the edges instead")
        if kwargs.get('aggr', 'add') not in ('add', 'sum'):
            raise ValueError(f"WJConv aggregates with a weighted sum (the "
                             f"normalised adjacency), got "
                             f"aggr={kwargs['aggr']!r}")
        kwargs.setdefault('aggr', 'add')
        kwargs.setdefault('node_dim', -2)
        super().__init__(**kwargs)
        self._init_wj(in_channels, out_channels, alpha, omega, num_nodes,
                      modulation, x0_channels, bias, authors_diagonal,
                      parametrization, cached, normalize, add_self_loops)
        self.dense_max_nodes = dense_max_nodes
        self._cached_graph: Optional[_Graph] = None
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self._reset_wj()
        self._cached_graph = None

    def forward(
        self,
        x: Tensor,
        x_0: Tensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        return_x0_proj: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): Node features ``[*, N, in_channels]``.
            x_0 (torch.Tensor): Initial features ``[*, N, x0_channels]``.
            edge_index (torch.Tensor or EdgeIndex): Graph as ``[2, E]``
                indices, PyG's ``EdgeIndex``, or a ``torch.sparse`` COO/CSR
                ``adj_t`` of shape ``[N, N]`` (row = target).
            edge_weight (torch.Tensor, optional): Edge weights ``[E]``.
            return_x0_proj (bool, optional): Also return
                :math:`\mathbf{X}^{(0)}\mathbf{W}_3`, which the pose model
                feeds to the next layer as its initial features.
        """
        num_nodes = self._check_inputs(x, x_0)
        graph = self._graph(edge_index, edge_weight, num_nodes, x)

        h1b, h2 = self._project(x)
        x0_proj = self.lin_initial(x_0)
        out = self._combine(h1b, self._apply_jacobi(graph, h2), x0_proj)
        return (out, x0_proj) if return_x0_proj else out

    def _graph(self, edge_index: Adj, edge_weight: OptTensor, num_nodes: int,
               x: Tensor) -> _Graph:
        explain = bool(self._explain)  # edge masks need per-edge messages
        graph = self._cached_graph
        if graph is not None and not explain:
            if graph.num_nodes != num_nodes:
                raise ValueError(f"this layer cached a graph with "
                                 f"{graph.num_nodes} nodes (cached=True) but "
                                 f"'x' has {num_nodes} nodes; build a layer "
                                 f"with cached=False for changing graphs")
            return graph
        index, weight = as_edge_index(edge_index, edge_weight, num_nodes)
        if weight is not None:
            check_weight_values(weight, self.normalize)
        learn_weights = weight is not None and weight.requires_grad
        # the graph in fp32 (fp64 for fp64 inputs), cast where it is used
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        index, weight = normalize_edge_index(
            index, weight, num_nodes, self.normalize, self.add_self_loops,
            symmetrize=self.modulation, dtype=dtype)
        c = self._self_coefficient
        if self.authors_diagonal:
            graph = _Graph(num_nodes, None, None, None, None, None,
                           adjacency_diagonal(index, weight, num_nodes))
        elif (learn_weights or explain or
              (num_nodes > self.dense_max_nodes and
               torch.compiler.is_compiling())):
            # messages along the edges in their order (loops appended), so
            # an explainer's edge mask lands on the edge it belongs to; a
            # compiler traces this path (gather/scatter) instead of CSR
            graph = _Graph(num_nodes, index, weight * (1.0 - self.alpha),
                           None, None, None, None)
        elif num_nodes <= self.dense_max_nodes:
            graph = _Graph(num_nodes, None, None, None, None,
                           edge_index_to_dense(index, weight, num_nodes),
                           None)
        else:
            index, weight = jacobi_edges(index, weight, num_nodes, self.alpha,
                                         c)
            graph = _Graph(num_nodes, None, None,
                           edge_index_to_csr(index, weight, num_nodes), None,
                           None, None)
        if self.cached and not learn_weights and not explain:
            self._cached_graph = graph
        return graph

    def _apply_jacobi(self, graph: _Graph, h: Tensor) -> Tensor:
        r""":math:`C h = (1-\alpha)\check{A} h + c h` (or its diagonal
        part), :math:`c` = :attr:`_self_coefficient`."""
        if graph.diagonal is not None:
            return self._jacobi_diagonal(graph.diagonal.to(h.dtype)) * h
        if graph.dense is not None:
            return torch.matmul(self._jacobi_dense(graph.dense.to(h.dtype)),
                                h)
        # propagate_type: (x: Tensor, edge_weight: OptTensor, adj: OptTensor)
        if graph.csr is not None:
            # the CSR product (MKL) has no bf16/fp16 kernel: run it in fp32
            hc = h if h.dtype in (torch.float32, torch.float64) else h.float()
            transposed = None
            if hc.requires_grad and torch.is_grad_enabled():
                transposed = self._transposed_operator(graph).to(hc.dtype)
            # (also under autocast, which would pick bf16 for it)
            with torch.autocast(hc.device.type, enabled=False):
                out = self.propagate(graph.csr.to(hc.dtype), x=hc,
                                     edge_weight=None, adj=transposed)
            out = out.to(h.dtype)
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

    def __prepare_scriptable__(self):
        raise RuntimeError(
            "WJConv does not support torch.jit.script (its input checks, "
            "lazy sizes and cached graph forms are Python): use "
            "torch.compile(conv) or torch.export instead, both of which are "
            "tested")

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

    def __repr__(self) -> str:
        return self._wj_repr()

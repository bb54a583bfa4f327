from typing import Optional, Tuple, Union

from torch import Tensor
from torch_geometric.typing import Adj, OptTensor

from pyg_wj.nn.conv.wj_propagation import WJPropagation, _Graph
from pyg_wj.nn.wj_rule import WJRule


def _check_message_passing_kwargs(kwargs: dict) -> None:
    flow = kwargs.get('flow', 'source_to_target')
    if flow != 'source_to_target':
        raise ValueError(f"WJConv supports flow='source_to_target' only, "
                         f"got flow={flow!r}: pass edge_index.flip(0) "
                         f"(or adj_t.t()) to reverse the edges instead")
    if kwargs.get('aggr', 'add') not in ('add', 'sum'):
        raise ValueError(f"WJConv aggregates with a weighted sum (the "
                         f"normalised adjacency), got "
                         f"aggr={kwargs['aggr']!r}")


class WJConv(WJRule, WJPropagation):
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

    The two products with :math:`\mathbf{X}` run as one GEMM (oneDNN's in
    CPU inference; ``conv.onednn = False`` keeps ``F.linear``). Aggregation
    uses a dense matmul on graphs of at most :obj:`dense_max_nodes` nodes
    (skeletons), a cached CSR sparse matmul otherwise, and per-edge
    messages only when :obj:`edge_weight` requires a gradient.

    On general graphs (no :obj:`num_nodes`) the default is
    :obj:`parametrization="tied"`: :math:`\mathbf{W}_1 = \mathbf{W}_2 =
    \mathbf{W}` and :math:`\mathbf{\Omega} = 1` with self-loops, i.e.
    :math:`(1-\alpha)\mathbf{\hat{A}}\mathbf{X}\mathbf{W} +
    \alpha\mathbf{X}^{(0)}\mathbf{W}_3 + \mathbf{b}`, one plain Jacobi
    step, which smooths like GCNConv; eq. (6) with separate weights is a
    negative Laplacian on such graphs. :obj:`"separate"` has a self weight
    :math:`\mathbf{W}_s` outside :math:`\mathbf{\Omega}` and no
    :math:`-\mathbf{\Omega}\odot\mathbf{X}\mathbf{W}_2` term, the
    function set of eq. (6). ``docs/wjconv.rst`` (Parametrisations) gives
    all three and the benchmark that chose the default. Passing
    :obj:`num_nodes` (a fixed skeleton) selects the paper's
    parametrisation, per-node :math:`\mathbf{\Omega}` and no self-loops.

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
        num_steps (int, optional): Weighted-Jacobi steps per layer, the
            later ones with the same :math:`\Omega`, graph and
            :math:`\mathbf{X}^{(0)}\mathbf{W}_3` (see ``docs/wjconv.rst``);
            not with :obj:`parametrization="separate"`. (default: :obj:`1`)
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
                 parametrization: Optional[str] = None, num_steps: int = 1,
                 **kwargs):
        _check_message_passing_kwargs(kwargs)
        kwargs.setdefault('aggr', 'add')
        kwargs.setdefault('node_dim', -2)
        super().__init__(**kwargs)
        self._init_wj(
            in_channels=in_channels, out_channels=out_channels, alpha=alpha,
            omega=omega, num_nodes=num_nodes, modulation=modulation,
            x0_channels=x0_channels, bias=bias,
            authors_diagonal=authors_diagonal,
            parametrization=parametrization, cached=cached,
            normalize=normalize, add_self_loops=add_self_loops,
            num_steps=num_steps)
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

        # an explainer's edge masks need this call's per-edge messages
        explain = bool(self._explain)
        graph = None if explain else self._cached_graph
        if graph is None:
            graph, learned = self._normalized_graph(edge_index, edge_weight,
                                                    num_nodes, x, explain)
            if self.cached and not learned and not explain:
                self._cached_graph = graph
        elif graph.num_nodes != num_nodes:
            raise ValueError(f"this layer cached a graph with "
                             f"{graph.num_nodes} nodes (cached=True) but "
                             f"'x' has {num_nodes} nodes; build a layer "
                             f"with cached=False for changing graphs")

        h1b, h2 = self._project(x)
        mh2 = self._propagate_jacobi(graph, h2)

        x0_proj = self.lin_initial(x_0)
        out = self._combine(h1b, mh2, x0_proj)
        out = self._later_steps(
            out, x0_proj, lambda h: self._propagate_jacobi(graph, h))
        return (out, x0_proj) if return_x0_proj else out

    def __prepare_scriptable__(self):
        raise RuntimeError(
            "WJConv does not support torch.jit.script (its input checks, "
            "lazy sizes and cached graph forms are Python): use "
            "torch.compile(conv) or torch.export instead, both of which are "
            "tested")

    def __repr__(self) -> str:
        return self._wj_repr()

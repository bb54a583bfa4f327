"""Parameters and the combination step shared by :class:`WJConv` and
:class:`DenseWJConv`.

Both layers own exactly the same parameters under the same names, so one
``state_dict`` loads into either; only the neighbour aggregation differs.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import LazyLinear, Linear, Parameter
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn.inits import glorot

from pyg_wj.nn.fused_linear import FusedLinear
from pyg_wj.utils.linear import linear
from pyg_wj.utils.validation import (
    check_initial_features,
    check_node_features,
)

OMEGA_MODES = ('node', 'channel', 'scalar', 'none')

#: How the weights enter the rule (see :class:`pyg_wj.nn.WJConv`):
#: ``'paper'`` is eq. (6) with separate :math:`W_1, W_2`; ``'separate'``
#: has a self weight :math:`W_s` outside :math:`\Omega` and no
#: :math:`-\Omega \odot XW_2` term; ``'tied'`` shares one :math:`W` as
#: :math:`W_1 = W_2`.
PARAMETRIZATIONS = ('paper', 'separate', 'tied')

#: The parametrisation of a layer built without ``num_nodes`` (a general
#: graph), chosen by the node-classification benchmark
#: (``python -m benchmarks node_classification``, docs/wjconv.rst).
GENERAL_PARAMETRIZATION = 'tied'


class WJParameters:
    """Mixin holding the WJ weights.

    ``lin`` holds :math:`[W_1 | W_2]` as one ``Linear(in, 2 * out)`` so both
    products with ``x`` come out of a single GEMM (``parametrization=
    'separate'`` stores :math:`[W_s | W_2]` there, ``'tied'`` a single
    ``Linear(in, out)``); ``lin_initial`` is :math:`W_3`; ``omega`` is
    :math:`\\Omega`; ``Q`` the adjacency modulation.
    """
    in_channels: int
    out_channels: int

    def _init_wj(self, in_channels: int, out_channels: int, alpha: float,
                 omega: Optional[str], num_nodes: Optional[int],
                 modulation: bool, x0_channels: Optional[int], bias: bool,
                 authors_diagonal: bool, parametrization: Optional[str],
                 cached: bool, normalize: bool,
                 add_self_loops: Optional[bool]) -> None:
        parametrization, omega = _checked_wj_arguments(
            in_channels, out_channels, alpha, omega, num_nodes, modulation,
            x0_channels, parametrization)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.x0_channels = in_channels if x0_channels is None else x0_channels
        self.alpha = float(alpha)
        self.omega_mode = omega
        self.num_nodes = num_nodes
        self.modulation = modulation
        self.authors_diagonal = authors_diagonal
        self.parametrization = parametrization
        self.cached = cached
        self.normalize = normalize
        if add_self_loops is None:  # GCNConv's default on general graphs
            add_self_loops = num_nodes is None
        self.add_self_loops = add_self_loops
        self._build_wj(bias)
        self.onednn = True

    def _build_wj(self, bias: bool) -> None:
        """The (uninitialised) parameters for the settings ``_init_wj``
        stored."""
        out_channels, num_nodes = self.out_channels, self.num_nodes
        blocks = 1 if self.parametrization == 'tied' else 2
        self.lin = (LazyLinear(blocks * out_channels, bias=False)
                    if self.in_channels == -1 else
                    Linear(self.in_channels, blocks * out_channels,
                           bias=False))
        self.lin_initial = (LazyLinear(out_channels, bias=False)
                            if self.x0_channels == -1 else
                            FusedLinear(self.x0_channels, out_channels,
                                        bias=False))
        omega_shape = {'node': (num_nodes, out_channels),
                       'channel': (out_channels, ), 'scalar': (1, ),
                       'none': None}[self.omega_mode]
        if omega_shape is None:
            self.register_parameter('omega', None)
        else:
            self.omega = Parameter(torch.empty(omega_shape))
        if self.modulation:
            self.Q = Parameter(torch.empty(num_nodes, num_nodes))
        else:
            self.register_parameter('Q', None)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)

    def _reset_wj(self) -> None:
        if not isinstance(self.lin.weight, UninitializedParameter):
            # glorot per block, so W1 and W2 get the scale of separate
            # matrices
            for block in self.lin.weight.split(self.out_channels):
                glorot(block)
        if not isinstance(self.lin_initial.weight, UninitializedParameter):
            glorot(self.lin_initial.weight)
        if self.omega is not None:
            torch.nn.init.ones_(self.omega)  # one plain Jacobi step (w = 1)
        if self.Q is not None:
            torch.nn.init.constant_(self.Q, 1e-6)  # as the paper
        if self.bias is not None:
            if self.parametrization == 'paper':
                # the pose model's (authors') initial distribution
                bound = 1.0 / math.sqrt(self.out_channels)
                torch.nn.init.uniform_(self.bias, -bound, bound)
            else:  # as PyG's layers
                torch.nn.init.zeros_(self.bias)

    def _materialize(self, x: Tensor, x_0: Tensor) -> None:
        """Lazy ``in_channels=-1`` / ``x0_channels=-1``: fix the sizes from
        the first input and initialise as :meth:`reset_parameters`."""
        with torch.no_grad():
            if isinstance(self.lin.weight, UninitializedParameter):
                self.lin.initialize_parameters(x)
                for block in self.lin.weight.split(self.out_channels):
                    glorot(block)
            if isinstance(self.lin_initial.weight, UninitializedParameter):
                self.lin_initial.initialize_parameters(x_0)
                glorot(self.lin_initial.weight)
        self.in_channels = self.lin.weight.size(1)
        self.x0_channels = self.lin_initial.weight.size(1)
        self.lin = _materialized(self.lin, Linear)
        self.lin_initial = _materialized(self.lin_initial, FusedLinear)
        self.onednn = self._onednn  # the new FusedLinear follows the layer

    @property
    def onednn(self) -> bool:
        """Whether the layer's GEMMs may use oneDNN's kernel in CPU
        inference (:func:`pyg_wj.utils.linear`); set :obj:`False` to run
        ``F.linear`` (same result to fp32 rounding)."""
        return self._onednn

    @onednn.setter
    def onednn(self, enabled: bool) -> None:
        self._onednn = bool(enabled)
        if isinstance(self.lin_initial, FusedLinear):
            self.lin_initial.onednn = self._onednn

    @property
    def W1(self) -> Tensor:
        """:math:`W_1` (:math:`W_s` with ``parametrization='separate'``,
        :math:`W` when tied) as an ``[in_channels, out_channels]`` view."""
        return self.lin.weight[:self.out_channels].t()

    @property
    def W2(self) -> Tensor:
        """:math:`W_2` as an ``[in_channels, out_channels]`` view (the
        same as :attr:`W1` when tied)."""
        if self.parametrization == 'tied':
            return self.W1
        return self.lin.weight[self.out_channels:].t()

    @property
    def W3(self) -> Tensor:
        """:math:`W_3` as an ``[x0_channels, out_channels]`` view."""
        return self.lin_initial.weight.t()

    @property
    def _self_coefficient(self) -> float:
        """Coefficient of :math:`H W_2` inside :math:`\\Omega`: ``-1`` in
        eq. (6) and when tied, ``0`` with a separate self weight."""
        return 0.0 if self.parametrization == 'separate' else -1.0

    def symmetric_modulation(self) -> Optional[Tensor]:
        r""":math:`(Q + Q^\top) / 2`, or ``None`` without modulation."""
        if self.Q is None:
            return None
        return 0.5 * (self.Q + self.Q.t())

    def _check_inputs(self, x: Tensor, x_0: Tensor) -> int:
        """Check ``x`` and ``x_0`` against the layer (fixing lazy sizes on
        the first call); return the number of nodes."""
        check_node_features(x, self.in_channels, 'x')
        check_node_features(x_0, self.x0_channels, 'x_0')
        if self.in_channels == -1 or self.x0_channels == -1:
            self._materialize(x, x_0)
        check_initial_features(x_0, x, self.x0_channels, 'x_0')
        self._check_dtype(x)
        num_nodes = x.size(-2)
        self._check_num_nodes(num_nodes)
        return num_nodes

    def _check_dtype(self, x: Tensor, name: str = 'x') -> None:
        """Outside autocast, ``x`` must have the parameters' dtype."""
        weight = self.lin.weight
        if isinstance(weight, UninitializedParameter):
            return
        if (x.dtype != weight.dtype and
                not torch.is_autocast_enabled(x.device.type)):
            raise TypeError(f"'{name}' has dtype {x.dtype} but the layer's "
                            f"parameters are {weight.dtype}: cast one to the "
                            f"other (e.g. {name}.to({weight.dtype}) or "
                            f"conv.to({x.dtype})), or run under "
                            f"torch.autocast")

    def _project(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(x W1 + b, x W2)`` from one GEMM; the bias rides along in the
        GEMM's epilogue instead of costing a separate pass. In CPU
        inference the GEMM is oneDNN's (:func:`pyg_wj.utils.linear`).
        Tied, both are ``x W`` (the first plus the bias)."""
        weight = self.lin.weight.to(x.dtype)
        if self.parametrization == 'tied':
            h = linear(x, weight, onednn=self._onednn)
            if self.bias is None:
                return h, h
            return h + self.bias.to(h.dtype), h
        bias = None
        if self.bias is not None:
            bias = torch.cat([self.bias, self.bias.new_zeros(
                self.out_channels)]).to(x.dtype)
        h = linear(x, weight, bias, onednn=self._onednn)
        h1b, h2 = h.split(self.out_channels, dim=-1)
        return h1b, h2

    def _jacobi_dense(self, adj: Tensor) -> Tensor:
        r"""The operator :math:`C = (1-\alpha)\check{A} + c I` (``c`` =
        :attr:`_self_coefficient`) as a dense matrix: applying it to
        :math:`h_2` gives the neighbour and the :math:`-h_2` terms of
        eq. (6) in one matmul."""
        q = self.symmetric_modulation()
        if q is not None:
            adj = adj + q.to(adj.dtype)
        # no torch.add(..., alpha=): inductor drops alpha (see _combine)
        op = adj * (1.0 - self.alpha)
        c = self._self_coefficient
        if c != 0.0:
            eye = torch.eye(adj.size(-1), dtype=adj.dtype, device=adj.device)
            op = op + eye * c
        return op

    def _jacobi_diagonal(self, diag: Tensor) -> Tensor:
        """The authors' variant of :meth:`_jacobi_dense`: only the diagonal
        of the adjacency, ``[N, 1]``, applied element-wise."""
        q = self.symmetric_modulation()
        if q is not None:
            diag = diag + q.diagonal().to(diag.dtype)
        return (diag * (1.0 - self.alpha) + self._self_coefficient
                ).unsqueeze(-1)

    def _combine(self, h1b: Tensor, mh2: Tensor, x0_proj: Tensor) -> Tensor:
        r""":math:`(h_1 + b) + \Omega \odot (C h_2 + \alpha x_0 W_3)`.

        Written without ``torch.add(..., alpha=a)``: PyTorch 2.13's inductor
        (CPU) drops ``alpha`` there when the other operand is a matmul, so
        compiled and eager results would differ
        (``tests/nn/conv/test_wj_compile.py`` pins this on every layout)."""
        inner = mh2 + x0_proj * self.alpha
        if self.omega is None:
            return h1b + inner
        # addcmul, not h1b + omega * inner: with per-edge messages that
        # form, too, came out of inductor wrong (by ~3.7) under fullgraph
        return torch.addcmul(h1b, self.omega.to(inner.dtype), inner)

    def _check_num_nodes(self, num_nodes: int) -> None:
        if self.num_nodes is not None and num_nodes != self.num_nodes:
            why = ("omega='node'" if self.omega_mode == 'node' else
                   'modulation=True')
            hint = ''
            if num_nodes % self.num_nodes == 0:
                hint = (f"; if 'x' stacks {num_nodes // self.num_nodes} "
                        f"graphs of {self.num_nodes} nodes (a PyG batch "
                        f"vector), pass them as [B, {self.num_nodes}, F] "
                        f"(torch_geometric.utils.to_dense_batch) with one "
                        f"graph's edge_index")
            raise ValueError(f"this layer was built with num_nodes="
                             f"{self.num_nodes} ({why} learns per-node "
                             f"parameters), but 'x' has {num_nodes} nodes "
                             f"(its dim -2){hint}")

    def _wj_repr(self) -> str:
        parts = [f'{self.in_channels}', f'{self.out_channels}',
                 f'alpha={self.alpha}', f'omega={self.omega_mode!r}']
        default = ('paper' if self.num_nodes is not None else
                   GENERAL_PARAMETRIZATION)
        if self.parametrization != default:
            parts.append(f'parametrization={self.parametrization!r}')
        if self.x0_channels != self.in_channels:
            parts.append(f'x0_channels={self.x0_channels}')
        if self.num_nodes is not None:
            parts.append(f'num_nodes={self.num_nodes}')
        if self.modulation:
            parts.append('modulation=True')
        if self.authors_diagonal:
            parts.append('authors_diagonal=True')
        if not self._onednn:
            parts.append('onednn=False')
        return f'{self.__class__.__name__}({", ".join(parts)})'


def _materialized(module: torch.nn.Module, cls: type) -> torch.nn.Module:
    """A materialized ``LazyLinear`` as a bias-free ``cls`` (``Linear`` or
    ``FusedLinear``) sharing its weight; any other module unchanged."""
    if isinstance(module, LazyLinear):
        out = cls(module.in_features, module.out_features, bias=False)
        out.weight = module.weight
        return out
    return module


def _checked_wj_arguments(in_channels: int, out_channels: int, alpha: float,
                          omega: Optional[str], num_nodes: Optional[int],
                          modulation: bool, x0_channels: Optional[int],
                          parametrization: Optional[str]
                          ) -> Tuple[str, str]:
    """Validate a WJ layer's arguments; return ``(parametrization,
    omega)`` with their defaults filled in."""
    if (in_channels <= 0 and in_channels != -1) or out_channels <= 0:
        raise ValueError(f"'in_channels' and 'out_channels' must be "
                         f"positive ('in_channels' may be -1: lazy), "
                         f"got {in_channels} and {out_channels}")
    if x0_channels is not None and x0_channels <= 0 and x0_channels != -1:
        raise ValueError(f"'x0_channels' must be positive or -1 (lazy), "
                         f"got {x0_channels}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"'alpha' must lie in [0, 1], got {alpha}")
    if parametrization is None:
        parametrization = ('paper' if num_nodes is not None else
                           GENERAL_PARAMETRIZATION)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"'parametrization' must be one of "
                         f"{PARAMETRIZATIONS}, got {parametrization!r}")
    if omega is None:
        # tied, a learnable Omega drifts above one and sharpens (see the
        # node-classification benchmark in docs/wjconv.rst)
        omega = ('node' if num_nodes is not None else
                 'none' if parametrization == 'tied' else 'channel')
    if omega not in OMEGA_MODES:
        raise ValueError(f"'omega' must be one of {OMEGA_MODES}, got "
                         f"{omega!r}")
    if num_nodes is None and (omega == 'node' or modulation):
        what = "omega='node'" if omega == 'node' else 'modulation=True'
        raise ValueError(f"{what} learns per-node parameters and needs "
                         f"'num_nodes'")
    if num_nodes is not None and num_nodes <= 0:
        raise ValueError(f"'num_nodes' must be positive, got {num_nodes}")
    return parametrization, omega

"""The parameters shared by :class:`WJConv` and :class:`DenseWJConv`.

Both layers own exactly the same parameters under the same names, so one
``state_dict`` loads into either; only the neighbour aggregation differs.
The arithmetic of the rule on them is :mod:`pyg_wj.nn.wj_rule`.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import LazyLinear, Linear, Parameter
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn.inits import glorot

from pyg_wj.nn.fused_linear import FusedLinear

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

    def _init_wj(self, *, in_channels: int, out_channels: int,
                 alpha: float, omega: Optional[str],
                 num_nodes: Optional[int], modulation: bool,
                 x0_channels: Optional[int], bias: bool,
                 authors_diagonal: bool, parametrization: Optional[str],
                 cached: bool, normalize: bool,
                 add_self_loops: Optional[bool], num_steps: int = 1) -> None:
        """Validate and store the layer's settings (by name: five of them
        are flags), then build its (uninitialised) parameters."""
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
        self.num_steps = _checked_num_steps(num_steps, parametrization)
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
        if self.num_steps != 1:
            parts.append(f'num_steps={self.num_steps}')
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

def _checked_num_steps(num_steps: int, parametrization: str) -> int:
    """``num_steps`` if a layer can take that many Jacobi steps."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) \
            or num_steps < 1:
        raise ValueError(f"'num_steps' must be an integer >= 1 (the "
                         f"weighted-Jacobi steps of one layer), got "
                         f"{num_steps!r}")
    if num_steps > 1 and parametrization == 'separate':
        # the later steps are H + Omega (C H + alpha X0 W3), whose -H term
        # 'separate' replaces by a learned self weight of the first step
        raise ValueError("'num_steps' > 1 repeats the Jacobi step of eq. "
                         "(6), which needs its -H term: "
                         "parametrization='separate' has none; use 'paper' "
                         "or 'tied'")
    return num_steps

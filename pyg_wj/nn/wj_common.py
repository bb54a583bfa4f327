"""Parameters and the combination step shared by :class:`WJConv` and
:class:`DenseWJConv`.

Both layers own exactly the same parameters under the same names, so one
``state_dict`` loads into either; only the neighbour aggregation differs.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Linear, Parameter
from torch_geometric.nn.inits import glorot

from pyg_wj.nn.fused_linear import FusedLinear
from pyg_wj.utils.linear import linear

OMEGA_MODES = ('node', 'channel', 'scalar', 'none')


class WJParameters:
    """Mixin holding the WJ weights.

    ``lin`` holds :math:`[W_1 | W_2]` as one ``Linear(in, 2 * out)`` so both
    products with ``x`` come out of a single GEMM; ``lin_initial`` is
    :math:`W_3`; ``omega`` is :math:`\\Omega`; ``Q`` the adjacency
    modulation.
    """
    in_channels: int
    out_channels: int

    def _init_wj(self, in_channels: int, out_channels: int, alpha: float,
                 omega: Optional[str], num_nodes: Optional[int],
                 modulation: bool, x0_channels: Optional[int], bias: bool,
                 authors_diagonal: bool) -> None:
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"'in_channels' and 'out_channels' must be "
                             f"positive, got {in_channels} and "
                             f"{out_channels}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"'alpha' must lie in [0, 1], got {alpha}")
        if omega is None:
            omega = 'channel' if num_nodes is None else 'node'
        if omega not in OMEGA_MODES:
            raise ValueError(f"'omega' must be one of {OMEGA_MODES}, got "
                             f"{omega!r}")
        if num_nodes is None and (omega == 'node' or modulation):
            what = "omega='node'" if omega == 'node' else 'modulation=True'
            raise ValueError(f"{what} learns per-node parameters and needs "
                             f"'num_nodes'")
        if num_nodes is not None and num_nodes <= 0:
            raise ValueError(f"'num_nodes' must be positive, got {num_nodes}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.x0_channels = in_channels if x0_channels is None else x0_channels
        self.alpha = float(alpha)
        self.omega_mode = omega
        self.num_nodes = num_nodes
        self.modulation = modulation
        self.authors_diagonal = authors_diagonal

        self.lin = Linear(in_channels, 2 * out_channels, bias=False)
        self.lin_initial = FusedLinear(self.x0_channels, out_channels,
                                       bias=False)
        omega_shape = {'node': (num_nodes, out_channels),
                       'channel': (out_channels, ), 'scalar': (1, ),
                       'none': None}[omega]
        if omega_shape is None:
            self.register_parameter('omega', None)
        else:
            self.omega = Parameter(torch.empty(omega_shape))
        if modulation:
            self.Q = Parameter(torch.empty(num_nodes, num_nodes))
        else:
            self.register_parameter('Q', None)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)

    def _reset_wj(self) -> None:
        # glorot per block, so W1 and W2 get the scale of separate matrices
        glorot(self.lin.weight[:self.out_channels])
        glorot(self.lin.weight[self.out_channels:])
        glorot(self.lin_initial.weight)
        if self.omega is not None:
            torch.nn.init.ones_(self.omega)  # one plain Jacobi step (w = 1)
        if self.Q is not None:
            torch.nn.init.constant_(self.Q, 1e-6)  # as the paper
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.out_channels)
            torch.nn.init.uniform_(self.bias, -bound, bound)

    @property
    def W1(self) -> Tensor:
        """:math:`W_1` as an ``[in_channels, out_channels]`` view."""
        return self.lin.weight[:self.out_channels].t()

    @property
    def W2(self) -> Tensor:
        """:math:`W_2` as an ``[in_channels, out_channels]`` view."""
        return self.lin.weight[self.out_channels:].t()

    @property
    def W3(self) -> Tensor:
        """:math:`W_3` as an ``[x0_channels, out_channels]`` view."""
        return self.lin_initial.weight.t()

    def symmetric_modulation(self) -> Optional[Tensor]:
        r""":math:`(Q + Q^\top) / 2`, or ``None`` without modulation."""
        if self.Q is None:
            return None
        return 0.5 * (self.Q + self.Q.t())

    def _project(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(x W1 + b, x W2)`` from one GEMM; the bias rides along in the
        GEMM's epilogue instead of costing a separate pass. In CPU
        inference the GEMM is oneDNN's (:func:`pyg_wj.utils.linear`)."""
        bias = None
        if self.bias is not None:
            bias = torch.cat([self.bias, self.bias.new_zeros(
                self.out_channels)]).to(x.dtype)
        h = linear(x, self.lin.weight.to(x.dtype), bias)
        return h.split(self.out_channels, dim=-1)

    def _jacobi_dense(self, adj: Tensor) -> Tensor:
        r"""The operator :math:`M = (1-\alpha)\check{A} - I` as a dense
        matrix: applying it to :math:`h_2` gives both neighbour and
        :math:`-h_2` terms of eq. (6) in one matmul."""
        q = self.symmetric_modulation()
        if q is not None:
            adj = adj + q.to(adj.dtype)
        eye = torch.eye(adj.size(-1), dtype=adj.dtype, device=adj.device)
        return torch.add(-eye, adj, alpha=1.0 - self.alpha)

    def _jacobi_diagonal(self, diag: Tensor) -> Tensor:
        """The authors' variant of :meth:`_jacobi_dense`: only the diagonal
        of the adjacency, ``[N, 1]``, applied element-wise."""
        q = self.symmetric_modulation()
        if q is not None:
            diag = diag + q.diagonal().to(diag.dtype)
        return (diag * (1.0 - self.alpha) - 1.0).unsqueeze(-1)

    def _combine(self, h1b: Tensor, mh2: Tensor, x0_proj: Tensor) -> Tensor:
        r""":math:`(h_1 + b) + \Omega \odot (M h_2 + \alpha x_0 W_3)`."""
        inner = torch.add(mh2, x0_proj, alpha=self.alpha)
        if self.omega is None:
            return h1b + inner
        return torch.addcmul(h1b, self.omega.to(inner.dtype), inner)

    def _check_num_nodes(self, num_nodes: int) -> None:
        if self.num_nodes is not None and num_nodes != self.num_nodes:
            why = ("omega='node'" if self.omega_mode == 'node' else
                   'modulation=True')
            raise ValueError(f"this layer was built with num_nodes="
                             f"{self.num_nodes} ({why} learns per-node "
                             f"parameters), but 'x' has {num_nodes} nodes "
                             f"(its dim -2)")

    def _wj_repr(self) -> str:
        parts = [f'{self.in_channels}', f'{self.out_channels}',
                 f'alpha={self.alpha}', f'omega={self.omega_mode!r}']
        if self.x0_channels != self.in_channels:
            parts.append(f'x0_channels={self.x0_channels}')
        if self.num_nodes is not None:
            parts.append(f'num_nodes={self.num_nodes}')
        if self.modulation:
            parts.append('modulation=True')
        if self.authors_diagonal:
            parts.append('authors_diagonal=True')
        return f'{self.__class__.__name__}({", ".join(parts)})'

from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module

from pyg_wj.nn.wj_rule import WJRule
from pyg_wj.utils.adjacency import normalize_dense_adj
from pyg_wj.utils.validation import (
    check_dense_adj,
    check_weight_values,
)


class DenseWJConv(WJRule, Module):
    r"""Dense twin of :class:`pyg_wj.nn.WJConv` for small fixed graphs such
    as skeletons: the neighbour aggregation is one ``[N, N] x [B, N, F]``
    matmul.

    It has the same parameters under the same names as
    :class:`~pyg_wj.nn.WJConv`, so a ``state_dict`` moves between the two,
    the same ``onednn`` switch, and computes the same function:

    .. math::
        \mathbf{X}^{\prime} = \mathbf{X}\mathbf{W}_1
        - \mathbf{\Omega} \odot (\mathbf{X}\mathbf{W}_2)
        + (1 - \alpha)\, \mathbf{\Omega} \odot
          (\mathbf{\check{A}} \mathbf{X}\mathbf{W}_2)
        + \alpha\, \mathbf{\Omega} \odot (\mathbf{X}^{(0)}\mathbf{W}_3)
        + \mathbf{b}.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of each output sample.
        alpha (float, optional): Strength of the initial features.
            (default: :obj:`0.1`)
        omega (str, optional): :obj:`"node"`, :obj:`"channel"`,
            :obj:`"scalar"` or :obj:`"none"`, as in
            :class:`~pyg_wj.nn.WJConv`.
        num_nodes (int, optional): Number of nodes; needed by
            :obj:`omega="node"` and :obj:`modulation=True`.
        modulation (bool, optional): Learn the adjacency modulation
            :math:`\mathbf{Q}`. (default: :obj:`False`)
        x0_channels (int, optional): Channels of the initial features.
            (default: :obj:`in_channels`)
        cached (bool, optional): Cache the normalised ``[N, N]`` adjacency
            on the first call. (default: :obj:`False`)
        normalize (bool, optional): Apply :math:`\mathbf{D}^{-1/2}
            \mathbf{A}\mathbf{D}^{-1/2}` (row sums as degrees).
            (default: :obj:`True`)
        add_self_loops (bool, optional): Add self-loops before normalising
            (a zero diagonal entry becomes one). (default: :obj:`True`
            without :obj:`num_nodes`, :obj:`False` with it)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        authors_diagonal (bool, optional): Use only the diagonal of
            :math:`\mathbf{\check{A}}`, as the authors' public code does.
            (default: :obj:`False`)
        parametrization (str, optional): :obj:`"paper"`,
            :obj:`"separate"` or :obj:`"tied"`, as in
            :class:`~pyg_wj.nn.WJConv`. (default: :obj:`"paper"` with
            :obj:`num_nodes`, else :obj:`"tied"`)
        num_steps (int, optional): Weighted-Jacobi steps per layer, as in
            :class:`~pyg_wj.nn.WJConv`. (default: :obj:`1`)

    Shapes:
        - **input:**
          node features :math:`(*, N, F_{in})`,
          initial features :math:`(*, N, F_{0})`,
          adjacency :math:`(N, N)` or :math:`(B, N, N)`,
          mask :math:`(B, N)` *(optional)*
        - **output:** node features :math:`(*, N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int,
                 alpha: float = 0.1, omega: Optional[str] = None,
                 num_nodes: Optional[int] = None, modulation: bool = False,
                 x0_channels: Optional[int] = None, cached: bool = False,
                 normalize: bool = True,
                 add_self_loops: Optional[bool] = None, bias: bool = True,
                 authors_diagonal: bool = False,
                 parametrization: Optional[str] = None, num_steps: int = 1):
        super().__init__()
        self._init_wj(
            in_channels=in_channels, out_channels=out_channels, alpha=alpha,
            omega=omega, num_nodes=num_nodes, modulation=modulation,
            x0_channels=x0_channels, bias=bias,
            authors_diagonal=authors_diagonal,
            parametrization=parametrization, cached=cached,
            normalize=normalize, add_self_loops=add_self_loops,
            num_steps=num_steps)
        self._cached_adj: Optional[Tensor] = None
        self.reset_parameters()

    def reset_parameters(self):
        self._reset_wj()
        self._cached_adj = None

    def forward(
        self,
        x: Tensor,
        x_0: Tensor,
        adj: Tensor,
        mask: Optional[Tensor] = None,
        return_x0_proj: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): Node features ``[*, N, in_channels]``.
            x_0 (torch.Tensor): Initial features ``[*, N, x0_channels]``.
            adj (torch.Tensor): Dense adjacency ``[N, N]`` or ``[B, N, N]``
                with ``adj[i, j]`` the weight of edge ``j -> i``.
            mask (torch.Tensor, optional): Boolean ``[B, N]``; outputs of
                masked-out nodes are set to zero.
            return_x0_proj (bool, optional): Also return
                :math:`\mathbf{X}^{(0)}\mathbf{W}_3`.
        """
        num_nodes = self._check_inputs(x, x_0)
        h1b, h2 = self._project(x)
        op = self._operator(adj, num_nodes, x, h2.dtype)

        def apply(h: Tensor) -> Tensor:  # the operator on this graph
            return op * h if self.authors_diagonal else torch.matmul(op, h)

        x0_proj = self.lin_initial(x_0)
        out = self._combine(h1b, apply(h2), x0_proj)
        out = self._later_steps(out, x0_proj, apply)
        if mask is not None:
            if mask.shape != x.shape[:-1]:
                raise ValueError(f"'mask' must have shape "
                                 f"{list(x.shape[:-1])}, got "
                                 f"{list(mask.shape)}")
            out = out * mask.unsqueeze(-1).to(out.dtype)
        return (out, x0_proj) if return_x0_proj else out

    def _operator(self, adj: Tensor, num_nodes: int, x: Tensor,
                  dtype: torch.dtype) -> Tensor:
        """The Jacobi operator (:meth:`_jacobi_dense`, or the diagonal
        form) for ``adj``; without autograd built once per adjacency and
        parameter version (:meth:`_cached_constant`), as the checks and
        the normalisation of the same adjacency give the same result."""
        def build() -> Tensor:
            norm = self._normalized(adj, num_nodes, x)
            if self.authors_diagonal:
                diag = norm.diagonal(dim1=-2, dim2=-1).to(dtype)
                return self._jacobi_diagonal(diag)
            return self._jacobi_dense(norm.to(dtype))

        settings = (num_nodes, dtype, self.normalize, self.add_self_loops,
                    self.authors_diagonal, self.cached)
        return self._cached_constant('operator', (adj, self.Q), settings,
                                     build)

    def _normalized(self, adj: Tensor, num_nodes: int, x: Tensor) -> Tensor:
        if self._cached_adj is not None:
            if self._cached_adj.size(-1) != num_nodes:
                raise ValueError(f"this layer cached an adjacency with "
                                 f"{self._cached_adj.size(-1)} nodes "
                                 f"(cached=True) but 'x' has {num_nodes}")
            return self._cached_adj
        check_dense_adj(adj, num_nodes, x.shape[:-2])
        check_weight_values(adj, self.normalize, 'adj')
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        adj = normalize_dense_adj(adj.to(dtype), self.normalize,
                                  self.add_self_loops,
                                  symmetrize=self.modulation)
        if self.cached and adj.dim() == 2:
            self._cached_adj = adj.detach()
        return adj

    def __repr__(self) -> str:
        return self._wj_repr()

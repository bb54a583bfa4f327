"""The rule of eq. (6) on the WJ parameters, shared by :class:`WJConv` and
:class:`DenseWJConv`: input checks, the projection ``x [W1 | W2]``, the
Jacobi operator and the final combination.

The layers differ only in how they apply the operator to ``x W2`` (a dense
matmul, CSR or per-edge messages).
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch.nn.parameter import UninitializedParameter

from pyg_wj.nn.wj_parameters import WJParameters
from pyg_wj.utils.linear import linear
from pyg_wj.utils.validation import (
    check_initial_features,
    check_node_features,
)
from pyg_wj.utils.versions import tensor_state


class WJRule(WJParameters):
    """Mixin: the arithmetic of the WJ rule on :class:`WJParameters`."""

    def _cached_constant(self, name: str, sources: Tuple, settings: Tuple,
                         build: Callable[[], Tensor]) -> Tensor:
        """``build()``, a function of the tensors ``sources`` (``None``
        entries allowed), the layer's ``alpha`` and ``settings``; without
        autograd, compilers and tracers kept and reused while every source
        is the same object at the same version counter, storage, dtype and
        generation (:func:`pyg_wj.utils.versions.tensor_state`)
        (the sources are held, so their addresses cannot be reused)."""
        if (torch.is_grad_enabled() or torch.compiler.is_compiling() or
                torch.jit.is_tracing() or
                any(t is not None and t.is_inference() for t in sources)):
            return build()
        state = (tuple(None if t is None else tensor_state(t)
                       for t in sources), self.alpha, settings)
        cache = self.__dict__.setdefault('_constants', {})
        hit = cache.get(name)
        if hit is not None and hit[0] == state:
            return hit[1]
        value = build()
        cache[name] = (state, value, sources)
        return value

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

    def _later_steps(self, out: Tensor, x0_proj: Tensor,
                     apply: Callable[[Tensor], Tensor]) -> Tensor:
        r"""Steps 2 to ``num_steps`` of the weighted-Jacobi iteration on the
        first step's output: :math:`H \leftarrow H + \Omega \odot (C H +
        \alpha X^{(0)} W_3)`, ``apply`` being :math:`C` on this layer's
        graph. With :math:`\Omega` in :math:`(0, 1]` it converges to
        :math:`(I + sL)^{-1} X^{(0)} W_3`, :math:`s = 1/\alpha - 1`: the
        implicit-fairing solve that one step only starts."""
        for _ in range(self.num_steps - 1):
            out = self._combine(out, apply(out), x0_proj)
        return out

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


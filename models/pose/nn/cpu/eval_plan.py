"""The model's eval-mode CPU inference with its constants folded once.

In eval mode every call of the plain path rebuilds the same constants
from the parameters: the Jacobi operator from ``A_hat`` and ``Q``, the
``[b | 0]`` bias of each WJ projection, the BatchNorm affine from its
running statistics, the head's LayerNorm affine; and it runs about 80
small operators per mixer block around its GEMMs, which at batch 1 cost
more than the GEMMs themselves. :class:`EvalPlan` computes those constants
once per parameter version (:class:`ParameterWatch`) and runs each block
as a handful of operators:

* the BatchNorm after each WJ layer is affine in eval mode, ``s y + t``
  per channel, and the layer's output is ``x W1 + b + Omega * (C x W2 +
  alpha x0 W3)``, so ``s`` folds into ``W1``, ``b`` and ``Omega`` and ``t``
  into ``b``;
* every WJ layer's initial-feature term ``b + alpha Omega * (x0 W3)``
  depends only on the embedding (the second layer's ``x0`` is the first
  one's ``E W3``, so its ``W3`` folds into ``W3' W3``): one GEMM and one
  ``addcmul`` for all layers of all blocks;
* the head's LayerNorm affine folds into the head.

The folded weights are computed in float64 and rounded once, so the
outputs equal the plain path's to fp32 rounding
(``tests/models/pose/nn/test_eval_plan.py`` pins this against float64).
"""
import weakref
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules import module as module_hooks

from pyg_wj.utils.linear import ConstantWeight
from pyg_wj.utils.versions import tensor_state


class ParameterWatch:
    """What the folded constants depend on, checked in microseconds: each
    submodule, parameter and buffer of the model as the object it was in
    its owner's dict, and each tensor's version counter (every in-place
    edit outside ``.data``: an optimizer step, ``load_state_dict``),
    storage address (``.to()``, ``.float()``), dtype and the generation of
    :mod:`pyg_wj.utils.versions` (fused optimizer steps and BatchNorm
    statistics do not bump version counters)."""

    def __init__(self, model: nn.Module):
        self.modules = list(model.modules())
        self.slots, self.tensors = [], []
        for m in self.modules:
            for table in (m._parameters, m._buffers, m._modules):
                self.slots += [(table, name, value)
                               for name, value in table.items()]
                if table is not m._modules:
                    self.tensors += [v for v in table.values()
                                     if v is not None]
        self.state = self._state()
        # the storages themselves: while held, no new tensor can get
        # their addresses, so an equal address means the same storage
        self._held = [t.detach() for t in self.tensors]

    def _state(self) -> List[Tuple]:
        # no device: a move changes the address, and with the old
        # storage held (and CUDA's unified addressing) none can repeat
        return [tensor_state(t) for t in self.tensors]

    def current(self) -> bool:
        """Whether nothing watched changed since construction."""
        return (all(table.get(name) is value
                    for table, name, value in self.slots) and
                self._state() == self.state)

    def hooked(self) -> bool:
        """Whether a forward hook is set on a watched module or
        globally."""
        if (module_hooks._global_forward_hooks or
                module_hooks._global_forward_pre_hooks):
            return True
        return any(m._forward_hooks or m._forward_pre_hooks
                   for m in self.modules)


def _bn_affine(bn: nn.BatchNorm1d) -> Tuple[Tensor, Tensor]:
    """``(s, t)`` with ``bn(y) = s y + t`` in eval mode, float64."""
    s = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight.double()
    t = -bn.running_mean.double() * s
    if bn.bias is not None:
        t = t + bn.bias.double()
    return s, t


class _WJStep:
    """One DenseWJConv followed by its BatchNorm, with the BatchNorm folded
    in; :meth:`__call__` gives the pre-GELU output."""

    def __init__(self, wj, bn: nn.BatchNorm1d, adj: Tensor):
        s, t = _bn_affine(bn)
        out = wj.out_channels
        weight = wj.lin.weight.detach().double()
        weight = torch.cat([weight[:out] * s[:, None], weight[out:]])
        self.gemm = ConstantWeight(weight.float())
        self.out = out
        omega = torch.ones(wj.num_nodes, out, dtype=torch.float64)
        if wj.omega is not None:
            omega = omega * wj.omega.detach().double()
        self.omega = (omega * s).float()
        bias = t if wj.bias is None else wj.bias.detach().double() * s + t
        # the additive term b' + alpha Omega' * x0 W3 (see fold_initial)
        self.bias, self.alpha_omega = bias, wj.alpha * omega * s
        x = adj.new_zeros(wj.num_nodes, 1)
        with torch.no_grad():
            op = wj._normalized(adj, wj.num_nodes, x)
            self.diagonal = wj.authors_diagonal
            if self.diagonal:
                diag = op.diagonal(dim1=-2, dim2=-1)
                self.op = wj._jacobi_diagonal(diag).float()
            else:
                self.op = wj._jacobi_dense(op).float()

    def __call__(self, x: Tensor, additive: Tensor, onednn: bool) -> Tensor:
        h = self.gemm(x, onednn=onednn)
        h1, h2 = h[..., :self.out], h[..., self.out:]
        mh2 = self.op * h2 if self.diagonal else torch.matmul(self.op, h2)
        return torch.addcmul(h1 + additive, self.omega, mh2)


class EvalPlan:
    """The folded eval-mode forward pass of an
    :class:`~models.pose.nn.model.MLPGraphWJ` of variant ``'wj'``, valid
    while its :class:`ParameterWatch` sees no change."""

    def __init__(self, model: nn.Module):
        blocks = model.blocks
        self.joint_mixing = [b.joint_mixing for b in blocks]
        self.steps: List[Tuple[_WJStep, _WJStep]] = []
        for b in blocks:
            g = b.graph_mixing
            self.steps.append((_WJStep(g.wj1, g.bn1, model.adj),
                               _WJStep(g.wj2, g.bn2, model.adj)))
        self._fold_initial(blocks)
        self.embedding = ConstantWeight(model.embedding.weight,
                                        model.embedding.bias)
        self._fold_head(model.head_norm, model.head)

    def _fold_initial(self, blocks) -> None:
        """One GEMM for every WJ layer's ``x0 W3``: the first layer's
        ``x0`` is the embedding ``E``, the second's ``E W3_1``, so its
        weight is ``W3_2 W3_1``."""
        weights, biases, scales = [], [], []
        for b, (first, second) in zip(blocks, self.steps):
            w3_1 = b.graph_mixing.wj1.lin_initial.weight.detach().double()
            w3_2 = b.graph_mixing.wj2.lin_initial.weight.detach().double()
            weights += [w3_1, w3_2 @ w3_1]
            biases += [first.bias, second.bias]
            scales += [first.alpha_omega, second.alpha_omega]
        self.initial = ConstantWeight(torch.cat(weights).float())
        self.initial_bias = torch.cat(biases).float()
        self.initial_scale = torch.cat(scales, dim=-1).float()
        self.widths = [step.out for pair in self.steps for step in pair]

    def _fold_head(self, norm: nn.LayerNorm, head: nn.Linear) -> None:
        weight = head.weight.detach().double()
        bias = head.bias.detach().double()
        if norm.bias is not None:
            bias = bias + weight @ norm.bias.detach().double()
        if norm.weight is not None:
            weight = weight * norm.weight.detach().double()
        self.head = ConstantWeight(weight.float(), bias.float())
        self.head_norm = (norm.normalized_shape, norm.eps)

    def __call__(self, x: Tensor, onednn: bool) -> Tensor:
        """``x``: ``[B, J, 2T]`` (the embedding's input); ``[B, J, 3]``."""
        embedding = self.embedding(x, onednn=onednn)
        additive = torch.addcmul(self.initial_bias,
                                 self.initial(embedding, onednn=onednn),
                                 self.initial_scale)
        terms = additive.split(self.widths, dim=-1)
        h = embedding
        for i, (jm, (first, second)) in enumerate(
                zip(self.joint_mixing, self.steps)):
            h = jm(h)
            p = F.gelu(first(h, terms[2 * i], onednn))
            h = h + F.gelu(second(p, terms[2 * i + 1], onednn))
        shape, eps = self.head_norm
        return self.head(F.layer_norm(h, shape, None, None, eps),
                         onednn=onednn)


# model -> (ParameterWatch, plan); weak, and outside the module so that
# copying, pickling or a state_dict never carries packed oneDNN tensors
_PLANS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def plan_applies(model: nn.Module, keypoints: Tensor) -> bool:
    """Whether ``model``'s call on ``keypoints`` may take the folded path:
    plain eval-mode fp32 CPU inference of a ``'wj'`` model, not under
    autograd, autocast, a compiler or a tracer (which must see the
    parameters, not constants). :func:`plan_for` checks the rest."""
    return not (model.training or torch.is_grad_enabled() or
                model.config.variant != 'wj' or
                keypoints.device.type != 'cpu' or
                keypoints.dtype != torch.float32 or
                model.embedding.weight.dtype != torch.float32 or
                torch.is_autocast_enabled('cpu') or
                torch.compiler.is_compiling() or torch.jit.is_tracing() or
                torch.onnx.is_in_onnx_export())


def plan_for(model: nn.Module) -> Optional[EvalPlan]:
    """``model``'s plan at its current parameters: the cached one while
    its :class:`ParameterWatch` sees no change, else a new one; ``None``
    where folding does not apply: a forward hook is set (it must see its
    module called), a BatchNorm has no running statistics, or a tensor is
    an inference tensor (no version counter to watch)."""
    cached = _PLANS.get(model)
    if cached is None or not cached[0].current():
        if not _foldable(model):
            _PLANS.pop(model, None)
            return None
        with torch.no_grad():
            cached = (ParameterWatch(model), EvalPlan(model))
        _PLANS[model] = cached
    watch, plan = cached
    return None if watch.hooked() else plan


def _foldable(model: nn.Module) -> bool:
    tensors = list(model.parameters()) + list(model.buffers())
    return (not any(t.is_inference() for t in tensors) and
            all(b.graph_mixing.bn1.running_var is not None and
                b.graph_mixing.bn2.running_var is not None
                for b in model.blocks))

"""The joint-mixing MLP's training step in cache-sized blocks of rows.

In training the joint-mixing MLP (eq. 7) maps ``[B * F, J]`` rows to a
``[B * F, F]`` hidden layer and back to ``J``: its GEMMs are thin (``K`` or
``N`` is the joint count), so autograd's plain path spends its time moving
hidden tensors of ``B * F * F`` floats (150 MB at batch 256 for
``paper-t1``) through memory: the fc1 output, its GELU, the dropout, and
their three gradients. :func:`blocked_joint_mlp` runs
``fc2(dropout(GELU(fc1(rows))))`` a block of rows at a time in both
directions, so each block's hidden layer stays in cache. It keeps only the
input rows and the dropout mask (one byte per hidden element); the
backward pass recomputes each block's hidden layer (two thin GEMMs and a
GELU, cheap in cache) instead of reading it back from memory.

The result equals the unblocked computation with the same dropout masks up
to fp32 summation order (the weight gradients are sums over blocks);
``tests/models/pose/test_blocked_mlp.py`` checks it against autograd in
float64 and against the plain path.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from models.pose.nn.cpu.dropout import drop_mask


def _hidden(rows: Tensor, w1: Tensor, b1: Tensor, drop: Optional[Tensor],
            scale: float):
    """``(pre-activation, dropout(GELU(pre-activation)))`` of one block."""
    pre = torch.addmm(b1, rows, w1.t())
    hidden = F.gelu(pre)
    if drop is not None:
        hidden.mul_(scale).masked_fill_(drop, 0.0)
    return pre, hidden


class _BlockedJointMLP(torch.autograd.Function):

    @staticmethod
    def forward(ctx, rows: Tensor, w1: Tensor, b1: Tensor, w2: Tensor,
                b2: Tensor, p: float, block: int) -> Tensor:
        out = rows.new_empty(rows.size(0), w2.size(0))
        drop, scale = None, 1.0
        if p > 0.0:
            # one mask for all blocks: drawn in parallel (a block alone is
            # below the size worth splitting), kept for backward
            drop, keep_probability = drop_mask((rows.size(0), w1.size(0)), p)
            scale = 1.0 / keep_probability
        for start in range(0, rows.size(0), block):
            stop = start + block
            _, hidden = _hidden(rows[start:stop], w1, b1,
                                None if drop is None else drop[start:stop],
                                scale)
            torch.addmm(b2, hidden, w2.t(), out=out[start:stop])
        saved = (rows, w1, b1, w2) + (() if drop is None else (drop, ))
        ctx.save_for_backward(*saved)
        ctx.scale, ctx.block = scale, block
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        rows, w1, b1, w2, *drop = ctx.saved_tensors
        drop = drop[0] if drop else None
        grad_out = grad_out.contiguous()
        grad_rows = torch.empty_like(rows)
        grad_w1, grad_b1 = torch.zeros_like(w1), torch.zeros_like(b1)
        grad_w2 = torch.zeros_like(w2)
        for start in range(0, rows.size(0), ctx.block):
            stop = start + ctx.block
            part, grad_part = rows[start:stop], grad_out[start:stop]
            part_drop = None if drop is None else drop[start:stop]
            pre, hidden = _hidden(part, w1, b1, part_drop, ctx.scale)
            grad_w2.addmm_(grad_part.t(), hidden)
            grad_hidden = grad_part.mm(w2)
            if part_drop is not None:
                grad_hidden.mul_(ctx.scale).masked_fill_(part_drop, 0.0)
            grad_pre = torch.ops.aten.gelu_backward(grad_hidden, pre)
            grad_w1.addmm_(grad_pre.t(), part)
            grad_b1.add_(grad_pre.sum(0))
            torch.mm(grad_pre, w1, out=grad_rows[start:stop])
        return (grad_rows, grad_w1, grad_b1, grad_w2, grad_out.sum(0), None,
                None)


def blocked_joint_mlp(rows: Tensor, w1: Tensor, b1: Tensor, w2: Tensor,
                      b2: Tensor, p: float, block: int) -> Tensor:
    """``fc2(dropout(GELU(fc1(rows))))`` for ``rows`` ``[M, J]``, fc1
    ``(w1 [H, J], b1 [H])``, fc2 ``(w2 [J', H], b2 [J'])``, dropout
    probability ``p`` (training), ``block`` rows at a time; differentiable.
    """
    if block <= 0:
        raise ValueError(f"'block' must be positive, got {block}")
    return _BlockedJointMLP.apply(rows.contiguous(), w1, b1, w2, b2,
                                  float(p), int(block))

"""Dropout whose random mask is cheap to draw on a CPU.

``nn.Dropout`` on a CPU draws one Bernoulli variable per element from a
single-threaded Mersenne Twister, one 32-bit draw per element. The
joint-mixing MLP's hidden tensor is ``[B, F, F]`` (38 M elements at batch
256 for ``paper-t1``), so in training this sampling, not arithmetic, was
the largest single cost of a step (``docs/performance.rst``).

:class:`FastDropout` draws 16 random bits per element instead (four
elements from one 64-bit draw) and compares them with a threshold, in two
threads with generators of their own; the mask is saved for backward as
``nn.Dropout``'s is. The keep probability is ``1 - p`` rounded to a multiple
of ``2**-16`` (for ``p = 0.2``: exactly 0.8 to within 3e-6) and surviving
elements are scaled by the inverse of that probability, so the layer is
unbiased in expectation. Masks come from torch's default generator
(``torch.manual_seed`` makes a run repeatable) but are not the masks
``nn.Dropout`` would draw.

On other devices, and while ``torch.compile`` traces (inductor generates
its own fast random numbers), it is plain ``F.dropout``.
"""
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BITS = 16
_LEVELS = 1 << _BITS
#: Below this many elements the thread hand-off costs more than it saves.
_PARALLEL_MIN_ELEMENTS = 1 << 20
_WORKERS = 2
_pool: Optional[ThreadPoolExecutor] = None


def _fill_random(words: Tensor, seed: int) -> None:
    """Fill int64 ``words`` with random 64-bit values from a generator
    seeded with ``seed``. ``random_(from, to)`` spans the full int64 range:
    the plain ``random_()`` of a signed type leaves the sign bit zero."""
    generator = torch.Generator().manual_seed(seed)
    words.random_(-(1 << 63), (1 << 63) - 1, generator=generator)


def _random_halfwords(numel: int) -> Tensor:
    """``numel`` uniformly distributed int16 values, drawn in
    :data:`_WORKERS` threads from generators seeded by torch's default
    generator."""
    global _pool
    words = torch.empty((numel + 3) // 4, dtype=torch.int64)
    parts = _WORKERS if numel >= _PARALLEL_MIN_ELEMENTS else 1
    seeds = torch.randint(0, 1 << 62, (parts, )).tolist()
    if parts == 1:
        _fill_random(words, seeds[0])
    else:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS,
                                       thread_name_prefix='dropout-mask')
        # torch releases the GIL inside random_: the slices fill in parallel
        list(_pool.map(_fill_random, words.tensor_split(parts), seeds))
    return words.view(torch.int16)[:numel]


def drop_mask(shape: Tuple[int, ...], p: float) -> Tuple[Tensor, float]:
    """A boolean mask of ``shape`` whose elements are ``True`` (dropped)
    with probability ``p`` rounded to a multiple of ``2**-16``, and the
    resulting keep probability."""
    drop_levels = round(p * _LEVELS)
    bits = _random_halfwords(math.prod(shape))
    drop = bits < drop_levels - (_LEVELS >> 1)  # int16 spans +-2**15
    return drop.view(shape), 1.0 - drop_levels / _LEVELS


class _ScaleAndDrop(torch.autograd.Function):
    """``x * scale`` with the masked elements zeroed; masked_fill keeps the
    boolean mask boolean (multiplying by it would first cast it to a float
    tensor as large as ``x``)."""

    @staticmethod
    def forward(ctx, x: Tensor, drop: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(drop)
        ctx.scale = scale
        return x.mul(scale).masked_fill_(drop, 0.0)

    @staticmethod
    def backward(ctx, grad: Tensor):
        drop, = ctx.saved_tensors
        return grad.mul(ctx.scale).masked_fill_(drop, 0.0), None, None


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Functional form of :class:`FastDropout`."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.device.type != 'cpu' or torch.compiler.is_compiling():
        return F.dropout(x, p, training)
    drop, keep_probability = drop_mask(tuple(x.shape), p)
    if keep_probability == 0.0:
        return x * 0.0
    return _ScaleAndDrop.apply(x, drop, 1.0 / keep_probability)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the cheaper CPU mask described in this module.

    It is an ``nn.Dropout`` (same ``p``, no parameters or buffers), so
    checkpoints and module counters treat it as one.
    """

    def forward(self, x: Tensor) -> Tensor:
        return fast_dropout(x, self.p, self.training)

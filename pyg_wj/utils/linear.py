"""``x W^T + b`` (and an optional activation) with oneDNN's fused kernels
for CPU inference.

oneDNN's fp32 GEMM can be faster than PyTorch's default ``F.linear``
(MKL; the rates measured on the CPUs these layers were tuned on are in
``docs/performance.rst``), and oneDNN also applies the bias and GELU in the
GEMM's epilogue instead of in extra passes over memory. Without autograd
:func:`linear` therefore calls oneDNN's linear-with-post-op kernel, the one
``torch.compile`` (inductor) itself emits on CPU; everywhere else (autograd,
other devices or dtypes, autocast, compilation) it is exactly ``F.linear``
followed by the activation. The two agree to fp32 rounding (the
summation order inside the GEMM differs).

The kernel is a private PyTorch operator (``torch.ops.mkldnn.
_linear_pointwise``), so its presence is checked once and the plain path is
used where it is missing. There is no process-wide switch: a caller passes
``onednn=False`` (a :class:`~pyg_wj.nn.FusedLinear` or WJ layer has an
``onednn`` attribute), e.g. to compare.

Packed weights: oneDNN's GEMM first reorders (packs) the weight into its
blocked layout, on every call; at the pose model's batch-1 shapes that
reorder costs as much as the product. A weight that is an
``nn.Parameter`` is therefore packed once per row count
(:func:`packed_weight`) and the packed copy reused for as long as the
parameter is provably unchanged: the same tensor object, version counter
(every in-place edit outside ``.data``, an optimizer step, and
``load_state_dict`` bump it), storage address (``.to()`` / ``.float()``
swap it), device, dtype, shape and strides, and the generation of
:mod:`pyg_wj.utils.versions` (fused optimizer steps do not bump the
version counter; every optimizer step bumps the generation). Writes
through ``.data`` are invisible to both: after one, call
:func:`clear_packed_weights`.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from pyg_wj.utils.versions import tensor_state

#: Activations :func:`linear` can apply (``'gelu'`` is the exact, erf-based
#: GELU of ``F.gelu``).
ACTIVATIONS = (None, 'gelu', 'relu')

_kernel = None  # resolved on first use: the op, or False when unavailable
_reorder = None  # the same for the weight-packing op

#: Packed copies kept per weight (one per row count seen, newest last).
PACKED_PER_WEIGHT = 4

# weight -> {rows: (state of the weight when packed, packed copy, the
# storage it was packed from)}; weak, so a freed weight takes its packed
# copies with it. Holding the old storage keeps its address from being
# reused by a new one (after `.to()` swaps it), so an address match
# means the same storage.
_packed: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _mkldnn_op(name: str):
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return getattr(torch.ops.mkldnn, name)
    except (AttributeError, RuntimeError):
        return False


def _onednn_kernel():
    global _kernel
    if _kernel is None:
        _kernel = _mkldnn_op('_linear_pointwise')
    return _kernel


def _reorder_op():
    global _reorder
    if _reorder is None:
        _reorder = _mkldnn_op('_reorder_linear_weight')
    return _reorder


def _weight_state(weight: Tensor) -> Tuple:
    return (*tensor_state(weight), weight.device)


def packed_weight(weight: Tensor, rows: int) -> Optional[Tensor]:
    """``weight`` in oneDNN's blocked layout for ``rows``-row inputs,
    packed on first use and cached while the weight is unchanged (see the
    module docstring); ``None`` where it cannot be cached (not an
    ``nn.Parameter``, an inference tensor, under a tracer, or no reorder
    op)."""
    reorder = _reorder_op()
    # a tracer would record the packed copy as a constant of the graph
    if (not reorder or not isinstance(weight, torch.nn.Parameter) or
            weight.is_inference() or torch.jit.is_tracing()):
        return None
    state = _weight_state(weight)
    per_rows: Dict[int, Tuple] = _packed.setdefault(weight, {})
    hit = per_rows.get(rows)
    if hit is not None and hit[0] == state:
        return hit[1]
    with torch.no_grad():
        packed = reorder(weight.detach().contiguous(), rows)
    per_rows.pop(rows, None)
    per_rows[rows] = (state, packed, weight.detach())
    while len(per_rows) > PACKED_PER_WEIGHT:
        per_rows.pop(next(iter(per_rows)))
    return packed


def clear_packed_weights() -> None:
    """Drop every packed weight (needed only after writes through
    ``.data``, which the version counter does not see)."""
    _packed.clear()


def onednn_inference_available() -> bool:
    """Whether this PyTorch build has the oneDNN kernel :func:`linear`
    uses."""
    return bool(_onednn_kernel())


def _takes_fast_path(x: Tensor, weight: Tensor,
                     bias: Optional[Tensor]) -> bool:
    if not (x.device.type == 'cpu' and
            x.dtype == torch.float32 and weight.dtype == torch.float32 and
            (bias is None or bias.dtype == torch.float32) and
            x.dim() >= 2 and x.numel() > 0):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and
                                        bias.requires_grad)):
        return False  # the kernel has no backward
    # autocast would have run F.linear in bf16: keep its semantics; a
    # compiler makes its own choice of kernel
    if torch.is_autocast_enabled('cpu') or torch.compiler.is_compiling():
        return False
    return bool(_onednn_kernel())


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
           activation: Optional[str] = None, onednn: bool = True) -> Tensor:
    r"""``activation(x @ weight.T + bias)``, as ``F.linear`` (same argument
    order and shapes).

    Args:
        x (torch.Tensor): Input ``[*, in_features]``.
        weight (torch.Tensor): ``[out_features, in_features]``.
        bias (torch.Tensor, optional): ``[out_features]``.
        activation (str, optional): ``None``, ``'gelu'`` (exact) or
            ``'relu'``.
        onednn (bool, optional): Allow the oneDNN kernel (where it
            applies, see above); ``False`` always runs ``F.linear``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"'activation' must be one of {ACTIVATIONS}, got "
                         f"{activation!r}")
    if onednn and _takes_fast_path(x, weight, bias):
        x = x.contiguous()
        packed = packed_weight(weight, x.numel() // x.size(-1))
        return _onednn_kernel()(
            x, weight.contiguous() if packed is None else packed, bias,
            activation or 'none', [], 'none')
    out = F.linear(x, weight, bias)
    if activation == 'gelu':
        return F.gelu(out)
    if activation == 'relu':
        return F.relu(out)
    return out


class ConstantWeight:
    """``linear(x, weight, bias, activation)`` for a weight the caller
    treats as a constant (e.g. one folded from several parameters, rebuilt
    by its owner whenever they change): packed for oneDNN once per row
    count, with no state checks on the way.

    Args:
        weight (torch.Tensor): ``[out_features, in_features]``; copied.
        bias (torch.Tensor, optional): ``[out_features]``; copied.
    """

    def __init__(self, weight: Tensor, bias: Optional[Tensor] = None):
        self.weight = weight.detach().contiguous().clone()
        self.bias = None if bias is None else bias.detach().clone()
        self._packs: Dict[int, Tensor] = {}

    def __call__(self, x: Tensor, activation: Optional[str] = None,
                 onednn: bool = True) -> Tensor:
        weight, bias = self.weight, self.bias
        if not (onednn and _takes_fast_path(x, weight, bias)):
            return linear(x, weight, bias, activation, onednn=False)
        x = x.contiguous()
        rows = x.numel() // x.size(-1)
        packed = self._packs.get(rows)
        if packed is None and _reorder_op():
            if len(self._packs) >= PACKED_PER_WEIGHT:
                self._packs.pop(next(iter(self._packs)))
            packed = self._packs[rows] = _reorder_op()(weight, rows)
        return _onednn_kernel()(x, weight if packed is None else packed,
                                bias, activation or 'none', [], 'none')

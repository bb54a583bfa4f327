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
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

#: Activations :func:`linear` can apply (``'gelu'`` is the exact, erf-based
#: GELU of ``F.gelu``).
ACTIVATIONS = (None, 'gelu', 'relu')

_kernel = None  # resolved on first use: the op, or False when unavailable


def _onednn_kernel():
    global _kernel
    if _kernel is None:
        _kernel = False
        if torch.backends.mkldnn.is_available():
            try:
                _kernel = torch.ops.mkldnn._linear_pointwise
            except (AttributeError, RuntimeError):
                pass
    return _kernel


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
        return _onednn_kernel()(x.contiguous(), weight.contiguous(), bias,
                                activation or 'none', [], 'none')
    out = F.linear(x, weight, bias)
    if activation == 'gelu':
        return F.gelu(out)
    if activation == 'relu':
        return F.relu(out)
    return out

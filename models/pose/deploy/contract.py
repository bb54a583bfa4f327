"""The exported file's contract, shared by the export
(:mod:`models.pose.deploy.export`) and the ONNX Runtime predictor
(:mod:`models.pose.deploy.predictor`): opset, input and output names, the
metadata keys of the model config and of the weights' digest, the opsets
the export accepts, the parity tolerance, the loader of the optional
``onnx`` / ``onnxruntime`` packages, and the check that an input path is
a regular file.
"""
import hashlib
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Union

import torch

#: ONNX operator set of the exported file.
OPSET = 17
#: Name of the graph's input: float32 ``[batch, frames, joints, 2]``.
INPUT_NAME = 'keypoints_2d'
#: Name of the graph's output: float32 ``[batch, joints, 3]`` (metres).
OUTPUT_NAME = 'pose_3d'
#: Metadata key holding the model config as JSON.
CONFIG_KEY = 'pyg_wj.model_config'
#: Metadata key holding :func:`weights_digest` of the exported weights, so
#: a file is never run in place of another checkpoint's model.
WEIGHTS_KEY = 'pyg_wj.weights_sha256'
#: Lowest opset every variant exports at: ``authors_diagonal`` needs
#: ``aten::diagonal`` (opset 13), the ``gcn`` variant ``index_put`` (11).
MIN_OPSET = 13
#: Highest opset of PyTorch's TorchScript-based exporter, when torch does
#: not say (its constant is private).
_FALLBACK_MAX_OPSET = 20
#: Largest ``max |onnxruntime - PyTorch| / max |PyTorch|`` accepted.
PARITY_TOLERANCE = 1e-4
#: The extra that installs what this room needs.
EXTRA = 'onnx'

PathLike = Union[str, Path]


class MissingDependencyError(ValueError):
    """``onnx`` or ``onnxruntime`` is not installed (a ``ValueError``, so
    the command line ends with one ``error:`` line and exit code 2)."""


def require_module(module: str, purpose: str) -> ModuleType:
    """The optional package ``module``, imported only when ``purpose`` needs
    it (``onnx`` and ``onnxruntime`` are the ``onnx`` extra, not
    dependencies), or a :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the {module!r} package, which is not "
            f"installed: pip install -e \".[{EXTRA}]\"") from None


def max_opset() -> int:
    """Highest opset the installed exporter writes: the TorchScript-based
    exporter's limit, capped by what the installed ``onnx`` knows."""
    try:
        from torch.onnx import _constants
        top = int(_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except (ImportError, AttributeError):
        top = _FALLBACK_MAX_OPSET
    onnx = require_module('onnx', 'ONNX export')
    return min(top, int(onnx.defs.onnx_opset_version()))


def check_opset(opset: Any, what: str = '--opset') -> int:
    """``opset`` if the export can write it, else a ``ValueError`` giving
    the installed range (checked before a checkpoint is even read)."""
    top = max_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or \
            not MIN_OPSET <= opset <= top:
        raise ValueError(
            f"{what} {opset!r}: the installed exporter (torch's "
            f"TorchScript-based ONNX exporter, onnx "
            f"{require_module('onnx', 'ONNX export').__version__}) writes "
            f"this model at opsets {MIN_OPSET} to {top}; give one in that "
            f"range (default {OPSET})")
    return opset


def weights_digest(state_dict: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over a model's ``state_dict``: each tensor's name,
    dtype, shape and bytes, in name order (device and memory layout do not
    count: the export and the checks see the same numbers)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        value = state_dict[name]
        if not hasattr(value, 'detach'):  # extra state: by its repr
            h.update(f'V{name}|{value!r}|'.encode())
            continue
        t = value.detach().to('cpu').contiguous().reshape(-1)
        h.update(f'T{name}|{t.dtype}|{tuple(value.shape)}|'.encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()



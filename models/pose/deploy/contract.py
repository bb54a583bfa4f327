"""The exported file's contract, shared by the export
(:mod:`models.pose.deploy.export`) and the ONNX Runtime predictor
(:mod:`models.pose.deploy.predictor`): opset, input and output names, the
metadata key of the model config, the parity tolerance, and the loader of
the optional ``onnx`` / ``onnxruntime`` packages.
"""
import importlib
from pathlib import Path
from types import ModuleType
from typing import Union

#: ONNX operator set of the exported file.
OPSET = 17
#: Name of the graph's input: float32 ``[batch, frames, joints, 2]``.
INPUT_NAME = 'keypoints_2d'
#: Name of the graph's output: float32 ``[batch, joints, 3]`` (metres).
OUTPUT_NAME = 'pose_3d'
#: Metadata key holding the model config as JSON.
CONFIG_KEY = 'pyg_wj.model_config'
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

"""A checkpoint's model as an ONNX file (:func:`export`,
:func:`export_bytes`), and its :func:`parity` with PyTorch under ONNX
Runtime; the command line is :mod:`models.pose.cli.export`.

The file (see ``docs/deploy.rst``; the names and numbers are in
:mod:`models.pose.deploy.contract`):

* **opset** ``OPSET`` (17: ``LayerNormalization`` is one node; the exact
  GELU becomes ``Erf`` arithmetic);
* **input** ``INPUT_NAME``: float32 ``[batch, frames, joints, 2]``, the 2D
  keypoints of ``frames`` consecutive frames normalised as the model's
  input (:func:`models.pose.data.windows.normalize_keypoints`);
* **output** ``OUTPUT_NAME``: float32 ``[batch, joints, 3]``, the centre
  frame's root-relative 3D pose in metres (camera frame);
* the **batch axis is dynamic**, ``frames`` and ``joints`` are fixed by the
  checkpoint's model config, which the file also carries as JSON in its
  metadata (key ``CONFIG_KEY``), beside the SHA-256 of the weights it was
  exported from (key ``WEIGHTS_KEY``,
  :func:`models.pose.deploy.contract.weights_digest`), so ``--onnx`` can
  refuse a file of another checkpoint;
* ``--opset`` between ``MIN_OPSET`` (13) and the installed exporter's
  highest (:func:`models.pose.deploy.contract.max_opset`);
* written atomically (:func:`models.common.files.atomic_write`).

The export traces the model's plain eager path: in CPU fp32 inference the
model would otherwise call a private oneDNN operator
(:func:`pyg_wj.utils.linear`) and run large batches in cache-sized blocks
(:class:`models.pose.nn.config.FastPaths`), neither of which belongs in
a portable graph, so both are switched off while tracing. It uses PyTorch's
TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``),
which needs only the ``onnx`` package (imported when an export runs: it is
the optional ``onnx`` extra, which also installs ONNX Runtime).

Before writing, the command runs the file with ONNX Runtime on random
inputs (batch 1 and a larger one) and compares with the PyTorch model
(:func:`parity`): the largest absolute difference must be at most
``PARITY_TOLERANCE`` of the output scale (the largest output magnitude),
or the command fails and writes nothing.
"""
import io
import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Sequence

import torch

from models.common.files import atomic_write
from models.pose.deploy.contract import (
    CONFIG_KEY,
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    PARITY_TOLERANCE,
    WEIGHTS_KEY,
    PathLike,
    check_opset,
    require_module,
    weights_digest,
)
from models.pose.deploy.predictor import OnnxPredictor
from models.pose.nn.model import MLPGraphWJ


@contextmanager
def _plain_path(model: MLPGraphWJ) -> Iterator[None]:
    """The model's portable eager path: no oneDNN kernel, no inference
    blocking, no autograd; the tracer's warnings about the model's shape
    checks (constant for a given config) silenced."""
    with model.fast_paths(inference_blocking=False, onednn=False), \
            torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        # the TorchScript-based exporter warns that it is deprecated
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                message='.*legacy TorchScript-based ONNX')
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                module=r'torch\.')
        yield


def export_bytes(model: MLPGraphWJ, opset: int = OPSET) -> bytes:
    """The model (put in eval mode) as a checked ONNX file, in memory."""
    onnx = require_module('onnx', 'ONNX export')
    check_opset(opset, 'opset')
    model.eval()
    cfg = model.config
    # batch 2, not 1: the tracer must not see a batch of size one
    example = torch.zeros(2, cfg.frames, cfg.joints, 2)
    buffer = io.BytesIO()
    with _plain_path(model):
        torch.onnx.export(
            model, (example, ), buffer, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: 'batch'},
                          OUTPUT_NAME: {0: 'batch'}},
            do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = ('MLP-GraphWJ 3D pose lifter (pyg-wj): normalised 2D '
                        'keypoints [batch, frames, joints, 2] -> '
                        f"{'last' if cfg.causal else 'centre'} frame "
                        'root-relative 3D pose [batch, joints, 3], '
                        'metres')
    entry = proto.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, json.dumps(cfg.to_dict())
    entry = proto.metadata_props.add()
    entry.key, entry.value = WEIGHTS_KEY, weights_digest(model.state_dict())
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export(model: MLPGraphWJ, path: PathLike, opset: int = OPSET) -> Path:
    """Write the model to ``path`` as ONNX, atomically; returns the path."""
    return atomic_write(path, export_bytes(model, opset))


def parity(model: MLPGraphWJ, predictor: OnnxPredictor,
           batches: Sequence[int] = (1, 64), seed: int = 0
           ) -> Dict[str, Any]:
    """ONNX Runtime against the PyTorch model (eval, its default inference
    path) on random normalised keypoints in ``[-1, 1]``.

    Returns the largest absolute difference, the output scale (largest
    output magnitude) and their ratio over all ``batches``; ``ok`` says
    whether the ratio is within :data:`PARITY_TOLERANCE`.
    """
    model.eval()
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    diff, scale = 0.0, 0.0
    for batch in batches:
        x = torch.rand(batch, cfg.frames, cfg.joints, 2, generator=gen) * 2 - 1
        with torch.no_grad():
            ref = model(x)
        out = predictor(x)
        if out.shape != ref.shape:
            raise ValueError(f'ONNX Runtime returned shape '
                             f'{list(out.shape)}, PyTorch {list(ref.shape)}')
        diff = max(diff, float((out - ref).abs().max()))
        scale = max(scale, float(ref.abs().max()))
    relative = diff / max(scale, 1e-12)
    return {'max_abs_diff': diff, 'output_scale': scale,
            'relative': relative, 'batches': list(batches),
            'ok': bool(relative <= PARITY_TOLERANCE)}

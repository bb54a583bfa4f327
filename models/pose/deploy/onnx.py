"""``python -m models.pose export``: a checkpoint as an ONNX file, checked
against PyTorch with ONNX Runtime; :class:`OnnxPredictor` runs such a file.

The file (see ``docs/deploy.rst``):

* **opset** :data:`OPSET` (17: ``LayerNormalization`` is one node; the
  exact GELU becomes ``Erf`` arithmetic);
* **input** :data:`INPUT_NAME`: float32 ``[batch, frames, joints, 2]``,
  the 2D keypoints of ``frames`` consecutive frames normalised as the
  model's input (:func:`models.pose.infer.lift.normalize_keypoints`);
* **output** :data:`OUTPUT_NAME`: float32 ``[batch, joints, 3]``, the
  centre frame's root-relative 3D pose in metres (camera frame);
* the **batch axis is dynamic**, ``frames`` and ``joints`` are fixed by the
  checkpoint's model config, which the file also carries as JSON in its
  metadata (key :data:`CONFIG_KEY`);
* written atomically (:func:`models.common.files.atomic_write`).

The export traces the model's plain eager path: in CPU fp32 inference the
model would otherwise call a private oneDNN operator
(:func:`pyg_wj.utils.linear`) and run large batches in cache-sized blocks
(:class:`models.pose.nn.config.FastPaths`), neither of which belongs in
a portable graph, so both are switched off for that model while tracing.
It uses PyTorch's TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``), which needs only the ``onnx`` package; the ``onnx``
extra installs it and ONNX Runtime.

After writing, the command runs the file with ONNX Runtime on random
inputs (batch 1 and a larger one) and compares with the PyTorch model:
the largest absolute difference must be at most :data:`PARITY_TOLERANCE`
of the output scale (the largest output magnitude), or the command fails.
"""
import argparse
import io
import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from models.common.files import atomic_write
from models.pose.nn.config import ModelConfig
from models.pose.nn.model import MLPGraphWJ

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
#: The extra that installs what this module needs.
EXTRA = 'onnx'

PathLike = Union[str, Path]


class MissingDependencyError(ValueError):
    """``onnx`` or ``onnxruntime`` is not installed (a ``ValueError``, so
    the command line ends with one ``error:`` line and exit code 2)."""


def _require(module: str, purpose: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the {module!r} package, which is not "
            f"installed: pip install -e \".[{EXTRA}]\"") from None


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
    onnx = _require('onnx', 'ONNX export')
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
                        'keypoints [batch, frames, joints, 2] -> centre '
                        'frame root-relative 3D pose [batch, joints, 3], '
                        'metres')
    entry = proto.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, json.dumps(cfg.to_dict())
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export(model: MLPGraphWJ, path: PathLike, opset: int = OPSET) -> Path:
    """Write the model to ``path`` as ONNX, atomically; returns the path."""
    return atomic_write(path, export_bytes(model, opset))


def _session(source: Union[PathLike, bytes], threads: int = 0):
    ort = _require('onnxruntime', 'Running an ONNX file')
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not isinstance(source, bytes):
        source = str(source)
    return ort.InferenceSession(source, options,
                                providers=['CPUExecutionProvider'])


class OnnxPredictor(nn.Module):
    """An exported file run by ONNX Runtime (CPU), called like the model:
    float32 ``[B, frames, joints, 2]`` in, ``[B, joints, 3]`` out (torch
    tensors; numpy arrays are accepted too).

    It is an ``nn.Module`` without parameters, so code written for the
    PyTorch model (``eval()``, ``train(False)``, ``parameters()`` to find
    the device, ``torch.no_grad()``) takes it unchanged, e.g.
    :func:`models.pose.infer.lift.infer_poses`. It always runs fp32 on the CPU
    (autocast has no effect) and has no training mode.

    Args:
        path: the ``.onnx`` file (or its bytes).
        threads: ONNX Runtime's intra-op threads (``0``: its default, all
            cores).
    """

    def __init__(self, path: Union[PathLike, bytes], threads: int = 0):
        super().__init__()
        self.session = _session(path, threads)
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or \
                [o.name for o in outputs] != [OUTPUT_NAME]:
            raise ValueError(
                f"{path if not isinstance(path, bytes) else 'the file'} is "
                f"not an exported pose model: expected input "
                f"{INPUT_NAME!r} and output {OUTPUT_NAME!r}, found "
                f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.config: Optional[ModelConfig] = (
            ModelConfig.from_dict(json.loads(meta[CONFIG_KEY]))
            if CONFIG_KEY in meta else None)
        _, self.frames, self.joints, _ = inputs[0].shape
        self.train(False)

    def train(self, mode: bool = True) -> 'OnnxPredictor':
        if mode:
            raise ValueError('an ONNX predictor has no training mode')
        return super().train(False)

    def forward(self, keypoints: Union[Tensor, np.ndarray]) -> Tensor:
        if isinstance(keypoints, Tensor):
            keypoints = keypoints.detach().cpu().numpy()
        x = np.ascontiguousarray(keypoints, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.frames, self.joints, 2):
            raise ValueError(f"'keypoints' must have shape [batch, "
                             f"{self.frames}, {self.joints}, 2] (frames, "
                             f"joints, xy), got {list(x.shape)}")
        (out, ) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return torch.from_numpy(out)


def predictor_for(path: PathLike, config: Dict[str, Any],
                  threads: int = 0) -> OnnxPredictor:
    """``path`` loaded as an :class:`OnnxPredictor` for a model of
    ``config`` (a checkpoint's ``model_config``): the file's window length
    and joint count must match, else a ``ValueError`` names both."""
    predictor = OnnxPredictor(path, threads)
    want = (int(config['frames']), int(config['joints']))
    if (predictor.frames, predictor.joints) != want:
        raise ValueError(
            f"{path} takes windows of {predictor.frames} frames and "
            f"{predictor.joints} joints; the checkpoint's model takes "
            f"{want[0]} frames and {want[1]} joints: export that checkpoint "
            f"with 'python -m models.pose export'")
    return predictor


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


# --------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', type=Path, required=True,
                        help='a checkpoint written by train (best.pt, '
                        'last.pt)')
    parser.add_argument('--out', '-o', type=Path, required=True,
                        help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=OPSET,
                        help=f'ONNX opset (default {OPSET})')
    parser.add_argument('--skip-parity', action='store_true',
                        help='do not check ONNX Runtime against PyTorch '
                        '(then onnxruntime is not needed)')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from models.pose.nn.checkpoint import load_for_inference

    _require('onnx', 'ONNX export')
    if not args.skip_parity:
        _require('onnxruntime', 'The parity check of the export')
    if args.out.is_dir():
        raise IsADirectoryError(f'--out {args.out} is a directory')
    model, config = load_for_inference(args.checkpoint)
    data = export_bytes(model, args.opset)
    result: Dict[str, Any] = {'path': str(args.out), 'opset': args.opset,
                              'config': config, 'bytes': len(data)}
    if not args.skip_parity:
        check = parity(model, OnnxPredictor(data))
        result['parity'] = check
        print(f"parity with PyTorch (batches {check['batches']}): max abs "
              f"difference {check['max_abs_diff']:.2e} m, "
              f"{check['relative']:.1e} of the output scale "
              f"{check['output_scale']:.3f} m (limit {PARITY_TOLERANCE:.0e})")
        if not check['ok']:
            raise ValueError(
                f"ONNX Runtime differs from PyTorch by "
                f"{check['relative']:.1e} of the output scale, more than "
                f"{PARITY_TOLERANCE:.0e}; {args.out} was not written")
    atomic_write(args.out, data)
    print(f"wrote {args.out} ({len(data) / 2**20:.1f} MiB): opset "
          f"{args.opset}, input {INPUT_NAME!r} float32 [batch, "
          f"{config['frames']}, {config['joints']}, 2], output "
          f"{OUTPUT_NAME!r} float32 [batch, {config['joints']}, 3] (metres), "
          f"batch axis dynamic")
    return result

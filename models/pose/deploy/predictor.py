"""An exported ONNX file run by ONNX Runtime, called like the PyTorch model
(:class:`OnnxPredictor`), and :func:`predictor_for`, which checks that a
file was exported from a checkpoint: every field of its model config, and
the SHA-256 of its weights.

``onnxruntime`` is imported only when a predictor is built: it is the
optional ``onnx`` extra.
"""
import json
import warnings
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from models.common.files import check_input_file
from models.pose.deploy.contract import (
    CONFIG_KEY,
    INPUT_NAME,
    OUTPUT_NAME,
    WEIGHTS_KEY,
    PathLike,
    require_module,
    weights_digest,
)
from models.pose.nn.config import ModelConfig

#: What an ``--onnx`` argument should name, and how to get one.
EXPECTED = "an .onnx file written by 'python -m models.pose export'"
_REEXPORT = ("export the checkpoint again: python -m models.pose export "
             "--checkpoint CHECKPOINT --out FILE.onnx")


def _name(source: Union[PathLike, bytes], what: str) -> str:
    return 'the ONNX bytes' if isinstance(source, bytes) else \
        f'{what} {source}'


def _session(source: Union[PathLike, bytes], threads: int = 0,
             what: str = 'ONNX file'):
    ort = require_module('onnxruntime', 'Running an ONNX file')
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not isinstance(source, bytes):
        # before ONNX Runtime opens it: a FIFO would block, a missing or
        # directory path gives a protobuf error that hides the cause
        source = str(check_input_file(source, what, EXPECTED))
    try:
        return ort.InferenceSession(source, options,
                                    providers=['CPUExecutionProvider'])
    except Exception as err:  # InvalidProtobuf, InvalidArgument, Fail, ...
        if not type(err).__module__.startswith('onnxruntime'):
            raise
        # '[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from X
        # failed:Protobuf parsing failed.' -> the code and the cause
        text = str(err).strip().splitlines()[0] if str(err).strip() else ''
        code = text.split(' : ')[2] if text.count(' : ') >= 3 else ''
        cause = text.rsplit('failed:', 1)[-1].strip()
        raise ValueError(
            f"{_name(source, what)} is not a readable ONNX model "
            f"(truncated, empty or another kind of file; ONNX Runtime: "
            f"{code + ': ' if code else ''}{cause}); expected {EXPECTED}"
        ) from None


def _file_config(meta: Mapping[str, str], name: str
                 ) -> Optional[ModelConfig]:
    """The model config the export stored, ``None`` if it stored none."""
    if CONFIG_KEY not in meta:
        return None
    try:
        return ModelConfig.from_dict(json.loads(meta[CONFIG_KEY]))
    except (TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValueError(f"{name}: its metadata {CONFIG_KEY!r} is not a "
                         f"valid model config ({err}); {_REEXPORT}") from None


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
        what: how errors name the file (e.g. ``'--onnx'``).

    ``config`` is the model config the file carries (``None`` if none),
    ``weights_sha256`` the digest of the weights it was exported from
    (``None`` for files exported before it was stored).
    """

    def __init__(self, path: Union[PathLike, bytes], threads: int = 0,
                 what: str = 'ONNX file'):
        super().__init__()
        self.session = _session(path, threads, what)
        name = _name(path, what)
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if [i.name for i in inputs] != [INPUT_NAME] or \
                [o.name for o in outputs] != [OUTPUT_NAME] or \
                len(shape) != 4 or \
                not all(isinstance(d, int) for d in shape[1:]):
            raise ValueError(
                f"{name} is not an exported pose model: expected input "
                f"{INPUT_NAME!r} [batch, frames, joints, 2] and output "
                f"{OUTPUT_NAME!r}, found {[i.name for i in inputs]} "
                f"{shape} -> {[o.name for o in outputs]}; {_REEXPORT}")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.config: Optional[ModelConfig] = _file_config(meta, name)
        self.weights_sha256: Optional[str] = meta.get(WEIGHTS_KEY)
        _, self.frames, self.joints, _ = shape
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


def _check_config(predictor: OnnxPredictor, config: Dict[str, Any],
                  name: str) -> None:
    """Every field of the file's model config against the checkpoint's: a
    file of another variant or preset would run and be reported under the
    checkpoint's name."""
    if predictor.config is None:
        raise ValueError(f"{name} carries no model config (metadata "
                         f"{CONFIG_KEY!r}), so it cannot be checked against "
                         f"the checkpoint; expected {EXPECTED}")
    want = ModelConfig.from_dict(dict(config)).to_dict()
    have = predictor.config.to_dict()
    diff = [f"{key}={have[key]!r} (the checkpoint's: {want[key]!r})"
            for key in want if have.get(key) != want[key]]
    if diff:
        raise ValueError(f"{name} was exported from another model than the "
                         f"checkpoint: {', '.join(diff)}; {_REEXPORT}")


def _check_weights(predictor: OnnxPredictor, weights: Mapping[str, Any],
                   name: str) -> None:
    """The digest of the weights the file was exported from against the
    checkpoint's; a file without one (exported before it was stored) is
    run with a warning, as a checkpoint without a digest is loaded."""
    digest = weights_digest(weights)
    if predictor.weights_sha256 is None:
        warnings.warn(f"{name} records no weights digest (exported before "
                      f"exports carried one): its architecture matches the "
                      f"checkpoint's, but not that it holds the same "
                      f"weights; {_REEXPORT} to get that check",
                      UserWarning, stacklevel=3)
    elif predictor.weights_sha256 != digest:
        raise ValueError(
            f"{name} was exported from other weights than the checkpoint's "
            f"(weights SHA-256 {predictor.weights_sha256[:12]}... in the "
            f"file, {digest[:12]}... in the checkpoint; same architecture): "
            f"{_REEXPORT}")


def predictor_for(path: PathLike, config: Dict[str, Any],
                  threads: int = 0,
                  weights: Optional[Mapping[str, Any]] = None,
                  what: str = '--onnx') -> OnnxPredictor:
    """``path`` loaded as an :class:`OnnxPredictor` for the checkpoint
    whose ``model_config`` is ``config`` and whose ``state_dict`` is
    ``weights``: the window length and joint count, then every field of
    the model config, then (given ``weights``) the weights' SHA-256 must
    match, else a ``ValueError`` names what differs."""
    predictor = OnnxPredictor(path, threads, what)
    name = _name(path, what)
    want = (int(config['frames']), int(config['joints']))
    if (predictor.frames, predictor.joints) != want:
        raise ValueError(
            f"{name} takes windows of {predictor.frames} frames and "
            f"{predictor.joints} joints; the checkpoint's model takes "
            f"{want[0]} frames and {want[1]} joints: {_REEXPORT}")
    # a causal and a centred model take the same shapes but predict
    # different frames; a file with no config in it cannot say which
    causal = bool(config.get('causal', False))
    if predictor.config is not None and predictor.config.causal != causal:
        raise ValueError(
            f"{path} was exported from a "
            f"{'causal' if predictor.config.causal else 'centred'} model "
            f"(causal={predictor.config.causal}); the checkpoint's is "
            f"{'causal' if causal else 'centred'} (causal={causal}): "
            f"{_REEXPORT}")
    _check_config(predictor, config, name)
    if weights is not None:
        _check_weights(predictor, weights, name)
    return predictor

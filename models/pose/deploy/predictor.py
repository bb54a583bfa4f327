"""An exported ONNX file run by ONNX Runtime, called like the PyTorch model
(:class:`OnnxPredictor`), and :func:`predictor_for`, which checks that a
file fits a checkpoint's model config.

``onnxruntime`` is imported only when a predictor is built: it is the
optional ``onnx`` extra.
"""
import json
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from models.pose.deploy.contract import (
    CONFIG_KEY,
    INPUT_NAME,
    OUTPUT_NAME,
    PathLike,
    require_module,
)
from models.pose.nn.config import ModelConfig


def _session(source: Union[PathLike, bytes], threads: int = 0):
    ort = require_module('onnxruntime', 'Running an ONNX file')
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
    # a causal and a centred model take the same shapes but predict
    # different frames; a file with no config in it cannot say which
    causal = bool(config.get('causal', False))
    if predictor.config is not None and predictor.config.causal != causal:
        raise ValueError(
            f"{path} was exported from a "
            f"{'causal' if predictor.config.causal else 'centred'} model "
            f"(causal={predictor.config.causal}); the checkpoint's is "
            f"{'causal' if causal else 'centred'} (causal={causal}): "
            f"export that checkpoint with 'python -m models.pose export'")
    return predictor

"""ONNX export: parity with PyTorch for every variant, the file's names,
opset and dynamic batch, and the plain eager path traced."""

import pytest
import torch

from models.pose.deploy.contract import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    PARITY_TOLERANCE,
)
from models.pose.deploy.export import export_bytes, parity
from models.pose.deploy.predictor import OnnxPredictor
from models.pose.nn.config import FastPaths
from tests.models.pose.deploy._onnx_models import (
    VARIANTS,
    tiny_model,
)


@pytest.fixture(scope='module')
def exported():
    """Each variant exported once: ``{name: (model, onnx bytes)}``."""
    return {name: (m, export_bytes(m)) for name, m in
            ((n, tiny_model(**kw)) for n, kw in VARIANTS.items())}


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_parity_with_pytorch(exported, name):
    model, data = exported[name]
    check = parity(model, OnnxPredictor(data, threads=1),
                      batches=(1, 3, 70))
    assert check['ok'], check
    assert check['relative'] <= PARITY_TOLERANCE
    assert check['output_scale'] > 0.1  # a real output, not zeros


def test_dynamic_batch_and_names(exported):
    import onnx
    model, data = exported['wj']
    proto = onnx.load_from_string(data)
    assert proto.opset_import[0].version == OPSET
    (inp, ) = proto.graph.input
    (out, ) = proto.graph.output
    assert inp.name == INPUT_NAME and out.name == OUTPUT_NAME
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 17, 2]
    predictor = OnnxPredictor(data, threads=1)
    assert predictor.config == model.config
    for batch in (1, 2, 129):
        x = torch.rand(batch, 3, 17, 2)
        assert tuple(predictor(x).shape) == (batch, 17, 3)


def test_plain_path_traced_and_settings_restored(exported):
    """Only standard ONNX operators (no oneDNN or other custom op), and the
    model's fast paths and autograd come back after the export."""
    import onnx

    _, data = exported['wj']
    domains = {n.domain for n in onnx.load_from_string(data).graph.node}
    assert domains <= {'', 'ai.onnx'}
    model = tiny_model()
    before = (model.fast_path_options, repr(model), torch.is_grad_enabled())
    export_bytes(model)
    assert (model.fast_path_options, repr(model),
            torch.is_grad_enabled()) == before
    assert before[0] == FastPaths()

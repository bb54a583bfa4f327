"""The ONNX Runtime predictor: shape checks, no training mode, a stand-in
for the model in infer_poses, a file of another model (window, any config
field, other weights) refused, old exports without a weights digest run
with a warning, and the opsets the export accepts."""
import os
import warnings

import numpy as np
import pytest
import torch

from models.pose.deploy.contract import (
    CONFIG_KEY,
    MIN_OPSET,
    PARITY_TOLERANCE,
    WEIGHTS_KEY,
    max_opset,
    weights_digest,
)
from models.pose.deploy.export import export_bytes
from models.pose.deploy.predictor import OnnxPredictor, predictor_for
from models.pose.nn.config import preset_config
from tests.models.pose.deploy._onnx_models import (
    VARIANTS,
    tiny_model,
)


@pytest.fixture(scope='module')
def exported():
    """Each variant exported once: ``{name: (model, onnx bytes)}``."""
    return {name: (m, export_bytes(m)) for name, m in
            ((n, tiny_model(**kw)) for n, kw in VARIANTS.items())}


def test_predictor_rejects_wrong_shape(exported):
    predictor = OnnxPredictor(exported['wj'][1], threads=1)
    with pytest.raises(ValueError, match=r'\[batch, 3, 17, 2\]'):
        predictor(torch.zeros(2, 1, 17, 2))
    with pytest.raises(ValueError, match='no training mode'):
        predictor.train()


def test_predictor_drops_into_infer_poses(exported):
    from models.pose.infer.lift import infer_poses
    model, data = exported['wj']
    kp = np.random.default_rng(0).uniform(100, 900, (40, 17, 2))
    ref = infer_poses(model, kp, (1000, 1000), frames=3, batch_size=16)
    got = infer_poses(OnnxPredictor(data, threads=1), kp, (1000, 1000),
                      frames=3, batch_size=16)
    assert np.abs(got - ref).max() <= PARITY_TOLERANCE * \
        np.abs(ref).max()


def test_onnx_file_of_another_model_is_refused(tmp_path, exported):
    other = tmp_path / 'other.onnx'
    other.write_bytes(exported['wj'][1])
    config = dict(preset_config('tiny').to_dict(), frames=9)
    with pytest.raises(ValueError, match='9 frames'):
        predictor_for(other, config)


def _without_metadata(data, *keys):
    """The export ``data`` with metadata ``keys`` dropped, as files
    exported before they were stored are."""
    import onnx
    proto = onnx.load_from_string(data)
    kept = [p for p in proto.metadata_props if p.key not in keys]
    del proto.metadata_props[:]
    for p in kept:
        proto.metadata_props.add(key=p.key, value=p.value)
    return proto.SerializeToString()


def test_export_records_the_weights_digest(tmp_path, exported):
    model, data = exported['wj']
    path = tmp_path / 'm.onnx'
    path.write_bytes(data)
    assert OnnxPredictor(data).weights_sha256 == \
        weights_digest(model.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the checkpoint's own file: silent
        predictor_for(path, model.config.to_dict(),
                      weights=model.state_dict())


def test_every_config_field_is_compared(tmp_path, exported):
    path = tmp_path / 'm.onnx'
    path.write_bytes(exported['wj'][1])
    config = dict(exported['wj'][0].config.to_dict(), alpha=0.3,
                  hidden=48)
    with pytest.raises(ValueError, match=r"another model than the "
                       r"checkpoint: hidden=\d+ \(the checkpoint's: 48\), "
                       r"alpha=0.1 \(the checkpoint's: 0.3\)"):
        predictor_for(path, config)


def test_an_export_without_digest_runs_with_a_warning(tmp_path, exported):
    model, data = exported['wj']
    path = tmp_path / 'old.onnx'
    path.write_bytes(_without_metadata(data, WEIGHTS_KEY))
    with pytest.warns(UserWarning, match=r'records no weights digest .* '
                      r'export the checkpoint again'):
        predictor = predictor_for(path, model.config.to_dict(),
                                  weights=model.state_dict())
    assert predictor.weights_sha256 is None


def test_an_export_without_config_is_refused(tmp_path, exported):
    model, data = exported['wj']
    path = tmp_path / 'bare.onnx'
    path.write_bytes(_without_metadata(data, WEIGHTS_KEY, CONFIG_KEY))
    with pytest.raises(ValueError, match=r"carries no model config"):
        predictor_for(path, model.config.to_dict())


def test_a_bad_config_in_the_metadata_is_named(exported):
    import onnx
    proto = onnx.load_from_string(exported['wj'][1])
    for p in proto.metadata_props:
        if p.key == CONFIG_KEY:
            p.value = '{"layers": 3, "colour": "red"}'
    with pytest.raises(ValueError, match=r"metadata 'pyg_wj.model_config' "
                       r"is not a valid model config .*colour"):
        OnnxPredictor(proto.SerializeToString())


@pytest.mark.parametrize('opset', [MIN_OPSET - 1, max_opset() + 1, True])
def test_export_refuses_opsets_it_cannot_write(opset):
    with pytest.raises(ValueError, match=rf"opset {opset!r}: .* at opsets "
                       rf"{MIN_OPSET} to {max_opset()}"):
        export_bytes(tiny_model(), opset)


def test_a_fifo_is_refused_before_onnxruntime_opens_it(tmp_path):
    # ONNX Runtime would block on it forever; nobody writes to this one
    fifo = tmp_path / 'pipe.onnx'
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"pipe.onnx is a named pipe "
                       r"\(FIFO\), not a regular file"):
        OnnxPredictor(fifo)

"""The ONNX Runtime predictor: shape checks, no training mode, a stand-in
for the model in infer_poses, and a file of another model refused."""

import numpy as np
import pytest
import torch

from models.pose.deploy.contract import (
    PARITY_TOLERANCE,
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

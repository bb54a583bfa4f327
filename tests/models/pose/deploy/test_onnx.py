"""ONNX export (``python -m models.pose export``) and the ONNX Runtime
predictor: parity with PyTorch for every variant, dynamic batch, atomic
writing, and a clear error without the ``onnx`` extra."""
import sys

import numpy as np
import pytest
import torch

from models.pose.__main__ import main
from models.pose.deploy import onnx as ex
from models.pose.nn.checkpoint import save_checkpoint
from models.pose.nn.config import preset_config
from models.pose.nn.model import MLPGraphWJ

VARIANTS = {'wj': {}, 'wj-authors-diagonal': {'authors_diagonal': True},
            'gcn': {'variant': 'gcn'}, 'mixer': {'variant': 'mixer'}}


def _model(seed=0, **overrides) -> MLPGraphWJ:
    """A tiny model whose BatchNorm statistics and every parameter are far
    from their initial values, so no term of the graph is trivially off."""
    torch.manual_seed(seed)
    model = MLPGraphWJ(preset_config('tiny', **overrides))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope='module')
def exported():
    """Each variant exported once: ``{name: (model, onnx bytes)}``."""
    return {name: (m, ex.export_bytes(m)) for name, m in
            ((n, _model(**kw)) for n, kw in VARIANTS.items())}


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_parity_with_pytorch(exported, name):
    model, data = exported[name]
    check = ex.parity(model, ex.OnnxPredictor(data, threads=1),
                      batches=(1, 3, 70))
    assert check['ok'], check
    assert check['relative'] <= ex.PARITY_TOLERANCE
    assert check['output_scale'] > 0.1  # a real output, not zeros


def test_dynamic_batch_and_names(exported):
    import onnx
    model, data = exported['wj']
    proto = onnx.load_from_string(data)
    assert proto.opset_import[0].version == ex.OPSET
    (inp, ) = proto.graph.input
    (out, ) = proto.graph.output
    assert inp.name == ex.INPUT_NAME and out.name == ex.OUTPUT_NAME
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 17, 2]
    predictor = ex.OnnxPredictor(data, threads=1)
    assert predictor.config == model.config
    for batch in (1, 2, 129):
        x = torch.rand(batch, 3, 17, 2)
        assert tuple(predictor(x).shape) == (batch, 17, 3)


def test_plain_path_traced_and_settings_restored(exported):
    """Only standard ONNX operators (no oneDNN or other custom op), and the
    model's fast paths and autograd come back after the export."""
    import onnx

    from models.pose.nn.config import FastPaths
    _, data = exported['wj']
    domains = {n.domain for n in onnx.load_from_string(data).graph.node}
    assert domains <= {'', 'ai.onnx'}
    model = _model()
    before = (model.fast_path_options, repr(model), torch.is_grad_enabled())
    ex.export_bytes(model)
    assert (model.fast_path_options, repr(model),
            torch.is_grad_enabled()) == before
    assert before[0] == FastPaths()


def test_predictor_rejects_wrong_shape(exported):
    predictor = ex.OnnxPredictor(exported['wj'][1], threads=1)
    with pytest.raises(ValueError, match=r'\[batch, 3, 17, 2\]'):
        predictor(torch.zeros(2, 1, 17, 2))
    with pytest.raises(ValueError, match='no training mode'):
        predictor.train()


def test_predictor_drops_into_infer_poses(exported):
    from models.pose.infer.lift import infer_poses
    model, data = exported['wj']
    kp = np.random.default_rng(0).uniform(100, 900, (40, 17, 2))
    ref = infer_poses(model, kp, (1000, 1000), frames=3, batch_size=16)
    got = infer_poses(ex.OnnxPredictor(data, threads=1), kp, (1000, 1000),
                      frames=3, batch_size=16)
    assert np.abs(got - ref).max() <= ex.PARITY_TOLERANCE * \
        np.abs(ref).max()


def _checkpoint(tmp_path, model):
    path = tmp_path / 'best.pt'
    save_checkpoint(path, {'model': model.state_dict(),
                           'model_config': model.config.to_dict()})
    return path


def test_cli_export(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, _model(variant='gcn'))
    out = tmp_path / 'out' / 'model.onnx'
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert 'parity with PyTorch' in text and f'opset {ex.OPSET}' in text
    assert sorted(p.name for p in out.parent.iterdir()) == ['model.onnx']
    predictor = ex.OnnxPredictor(out, threads=1)
    assert predictor.config.variant == 'gcn'


def test_cli_refuses_directory_and_bad_checkpoint(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, _model())
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(tmp_path)]) == 2
    assert 'is a directory' in capsys.readouterr().err
    assert main(['export', '--checkpoint', str(tmp_path / 'nope.pt'),
                 '--out', str(tmp_path / 'm.onnx')]) == 2
    assert 'does not exist' in capsys.readouterr().err


@pytest.mark.parametrize('module', ['onnx', 'onnxruntime'])
def test_missing_extra_named(tmp_path, capsys, monkeypatch, module):
    ckpt = _checkpoint(tmp_path, _model())
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    out = tmp_path / 'm.onnx'
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert f"'{module}'" in err and 'pip install -e ".[onnx]"' in err
    assert not out.exists()
    with pytest.raises(ex.MissingDependencyError, match=r'\.\[onnx\]'):
        if module == 'onnx':
            ex.export_bytes(_model())
        else:
            ex.OnnxPredictor(b'')


def test_evaluate_and_infer_through_onnxruntime(tmp_path, prepared_file):
    """``evaluate --onnx`` and ``infer --onnx`` give the PyTorch numbers."""
    import json

    from models.pose.evaluate.scoring import evaluate_checkpoint
    from models.pose.train.loop import TrainConfig, train

    train(preset_config('tiny'), TrainConfig(epochs=1, batch_size=16),
          prepared_file, tmp_path / 'run', progress=False)
    ckpt = tmp_path / 'run' / 'best.pt'
    onnx_file = tmp_path / 'model.onnx'
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(onnx_file)]) == 0
    kw = dict(pictures=False)
    torch_run = evaluate_checkpoint(ckpt, prepared_file, tmp_path / 'pt', **kw)
    ort_run = evaluate_checkpoint(ckpt, prepared_file, tmp_path / 'ort',
                                  onnx=onnx_file, **kw)
    assert ort_run['backend'] == 'onnxruntime'
    for key in ('mpjpe', 'p_mpjpe'):
        assert ort_run['average'][key] == pytest.approx(
            torch_run['average'][key], abs=1e-3)  # millimetres
    keypoints = tmp_path / 'kp.json'
    keypoints.write_text(json.dumps({
        'image_size': [1000, 1000],
        'keypoints': np.random.default_rng(0).uniform(
            300, 700, (6, 17, 2)).tolist()}))
    outs = {}
    for name, extra in (('pt', []), ('ort', ['--onnx', str(onnx_file)])):
        out = tmp_path / f'{name}.npz'
        assert main(['infer', str(keypoints), '--checkpoint', str(ckpt),
                     '-o', str(out), *extra]) == 0
        outs[name] = np.load(out)['poses_3d']
    np.testing.assert_allclose(outs['ort'], outs['pt'], atol=1e-5)


def test_onnx_file_of_another_model_is_refused(tmp_path, exported):
    other = tmp_path / 'other.onnx'
    other.write_bytes(exported['wj'][1])
    config = dict(preset_config('tiny').to_dict(), frames=9)
    with pytest.raises(ValueError, match='9 frames'):
        ex.predictor_for(other, config)

"""``python -m models.pose export``: the file written after the parity
check, clear errors (a directory, a bad checkpoint, no ``onnx`` extra), and
``evaluate --onnx`` / ``infer --onnx`` giving the PyTorch numbers."""
import sys

import numpy as np
import pytest

from models.pose.__main__ import main
from models.pose.deploy.contract import (
    OPSET,
    MissingDependencyError,
)
from models.pose.deploy.export import export_bytes
from models.pose.deploy.predictor import OnnxPredictor
from models.pose.nn.config import preset_config
from tests.models.pose.deploy._onnx_models import (
    checkpoint_of,
    tiny_model,
)


def test_cli_export(tmp_path, capsys):
    ckpt = checkpoint_of(tmp_path, tiny_model(variant='gcn'))
    out = tmp_path / 'out' / 'model.onnx'
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert 'parity with PyTorch' in text and f'opset {OPSET}' in text
    assert sorted(p.name for p in out.parent.iterdir()) == ['model.onnx']
    predictor = OnnxPredictor(out, threads=1)
    assert predictor.config.variant == 'gcn'


def test_cli_refuses_directory_and_bad_checkpoint(tmp_path, capsys):
    ckpt = checkpoint_of(tmp_path, tiny_model())
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(tmp_path)]) == 2
    assert 'is a directory' in capsys.readouterr().err
    assert main(['export', '--checkpoint', str(tmp_path / 'nope.pt'),
                 '--out', str(tmp_path / 'm.onnx')]) == 2
    assert 'does not exist' in capsys.readouterr().err


@pytest.mark.parametrize('module', ['onnx', 'onnxruntime'])
def test_missing_extra_named(tmp_path, capsys, monkeypatch, module):
    ckpt = checkpoint_of(tmp_path, tiny_model())
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    out = tmp_path / 'm.onnx'
    assert main(['export', '--checkpoint', str(ckpt), '--out',
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert f"'{module}'" in err and 'pip install -e ".[onnx]"' in err
    assert not out.exists()
    with pytest.raises(MissingDependencyError, match=r'\.\[onnx\]'):
        if module == 'onnx':
            export_bytes(tiny_model())
        else:
            OnnxPredictor(b'')


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

import argparse
import json

import numpy as np
import pytest
import torch

from models.pose.cli import infer as infer_cli
from models.pose.data.skeleton import JOINT_NAMES_17
from tests.models.pose._infer_helpers import CentreModel, H, W, fake_kp


def _args(tmp_path, input_path, **overrides):
    parser = argparse.ArgumentParser()
    infer_cli.add_arguments(parser)
    argv = [str(input_path), '--checkpoint', str(tmp_path / 'model.pt'),
            '-o', str(tmp_path / 'out' / 'poses.npz')]
    (tmp_path / 'out').mkdir(exist_ok=True)
    args = parser.parse_args(argv)
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


@pytest.fixture
def fake_loader(monkeypatch):
    """Replace checkpoint loading by the stand-in; records the calls."""
    calls = []

    def load(path, device='cpu'):
        calls.append(path)
        return CentreModel().eval(), load.config
    load.config = {'frames': 3, 'joints': 17}
    monkeypatch.setattr(infer_cli, 'load_model', load)
    load.calls = calls
    return load


def _write(tmp_path, kind):
    """A bad input file and the words its error must contain."""
    kp = fake_kp(3)
    if kind == 'missing file':
        return tmp_path / 'nope.npz', 'does not exist'
    if kind == 'wrong key':
        np.savez(tmp_path / 'k.npz', poses=kp, image_size=[W, H])
        return tmp_path / 'k.npz', "no 'keypoints' array; the file has poses"
    if kind == 'not an npz':
        (tmp_path / 'k.npz').write_text('hello')
        return tmp_path / 'k.npz', 'not an .npz file'
    if kind == '16 joints':
        np.savez(tmp_path / 'k.npz', keypoints=kp[:, :16], image_size=[W, H])
        # the project reader's message (was: 'expected 17 joints, found
        # 16'): the shape it wants and what a 16-joint file is
        return tmp_path / 'k.npz', (r'shape \[3, 16, 2\] .*expected '
                                    r'\[F, 17.*give all 17')
    if kind == '25 joints':
        path = tmp_path / 'k.json'
        path.write_text(json.dumps({'image_size': [W, H], 'order': 'coco',
                                    'keypoints': fake_kp(3, 25).tolist()}))
        # now readable as body25: the error says so (was: convert to COCO)
        return path, r'shape \[3, 25, 2\].*like body25: give order body25'
    if kind == 'ragged json':
        path = tmp_path / 'k.json'
        doc = kp.tolist()
        doc[1] = doc[1][:10]
        path.write_text(json.dumps({'image_size': [W, H], 'keypoints': doc}))
        return path, 'ragged'
    if kind == 'invalid json':
        (tmp_path / 'k.json').write_text('{"keypoints": [1, 2')
        return tmp_path / 'k.json', 'not valid JSON'
    if kind == 'negative image size':
        np.savez(tmp_path / 'k.npz', keypoints=kp, image_size=[-W, H])
        return tmp_path / 'k.npz', 'two positive numbers'
    if kind == 'three image sizes':
        path = tmp_path / 'k.json'
        path.write_text(json.dumps({'image_size': [W, H, 3],
                                    'keypoints': kp.tolist()}))
        return path, 'two positive numbers'
    if kind == 'no image size':
        np.savez(tmp_path / 'k.npz', keypoints=kp)
        return tmp_path / 'k.npz', 'no .image_size.; give --image-size'
    if kind == 'bad suffix':
        (tmp_path / 'k.csv').write_text('1,2')
        return tmp_path / 'k.csv', ('suffix .csv; expected .json, .npz or '
                                    'an OpenPose directory')
    raise AssertionError(kind)


# 'confidence column', 'nan' and 'json null' were refused before the
# detector readers: a third column is now the confidence and NaN / null a
# missing joint, filled (test_missing_joints_are_filled_and_flagged)
BAD_INPUTS = ['missing file', 'wrong key', 'not an npz', '16 joints',
              '25 joints', 'ragged json', 'invalid json',
              'negative image size', 'three image sizes', 'no image size',
              'bad suffix']


@pytest.mark.parametrize('kind', BAD_INPUTS)
def test_bad_input_one_readable_error_and_no_output(tmp_path, fake_loader,
                                                    kind):
    path, words = _write(tmp_path, kind)
    args = _args(tmp_path, path, stills=2,
                 animation=str(tmp_path / 'out' / 'a.gif'))
    with pytest.raises((ValueError, FileNotFoundError), match=words) as err:
        infer_cli.run(args)
    assert str(path) in str(err.value)  # names the file
    assert '\n' not in str(err.value)  # one line
    assert list((tmp_path / 'out').iterdir()) == []
    assert fake_loader.calls == []  # refused before loading the model


@pytest.mark.parametrize('overrides, words', [
    ({'image_size': [W, 0.0]}, '--image-size'),
    ({'output': 'OUT/poses.txt'}, 'expected one of .npz, .json, .csv, .bvh'),
    ({'output': 'OUT/missing/poses.npz'}, 'does not exist'),
    ({'animation': 'OUT/a.avi'}, '.gif, .mp4'),
    ({'stills': -1}, '--stills'),
])
def test_bad_options_write_nothing(tmp_path, fake_loader, overrides, words):
    np.savez(tmp_path / 'k.npz', keypoints=fake_kp(2))
    overrides = {k: v.replace('OUT', str(tmp_path / 'out'))
                 if isinstance(v, str) else v for k, v in overrides.items()}
    args = _args(tmp_path, tmp_path / 'k.npz', **overrides)
    if 'image_size' not in overrides:
        args.image_size = [W, H]
    with pytest.raises((ValueError, FileNotFoundError), match=words):
        infer_cli.run(args)
    assert list((tmp_path / 'out').iterdir()) == []
    assert fake_loader.calls == []


def test_output_may_not_overwrite_input(tmp_path, fake_loader):
    np.savez(tmp_path / 'k.npz', keypoints=fake_kp(2), image_size=[W, H])
    args = _args(tmp_path, tmp_path / 'k.npz', output=str(tmp_path / 'k.npz'))
    with pytest.raises(ValueError, match='is the input file'):
        infer_cli.run(args)


# ------------------------------------------------------------ end to end


def test_run_writes_npz_stills_and_animation(tmp_path, fake_loader, capsys):
    kp = fake_kp(5)
    np.savez(tmp_path / 'clip.npz', keypoints=kp, image_size=[W, H])
    args = _args(tmp_path, tmp_path / 'clip.npz', stills=2,
                 animation=str(tmp_path / 'out' / 'clip.gif'))
    result = infer_cli.run(args)
    out = tmp_path / 'out'
    assert sorted(p.name for p in out.iterdir()) == [
        'clip.gif', 'poses.npz', 'poses_frame00000.png',
        'poses_frame00004.png']
    with np.load(out / 'poses.npz', allow_pickle=False) as data:
        assert data['poses_3d'].shape == (5, 17, 3)
        assert data['poses_3d'].dtype == np.float32
        np.testing.assert_allclose(data['keypoints_2d'], kp, rtol=1e-6)
        np.testing.assert_allclose(data['image_size'], [W, H])
        assert list(data['joint_names']) == list(JOINT_NAMES_17)
    assert result['animation'] == out / 'clip.gif'
    assert 'wrote' in capsys.readouterr().out


def test_run_with_16_joint_model_drops_joint_9(tmp_path, fake_loader):
    fake_loader.config = {'frames': 1, 'joints': 16}
    kp = fake_kp(3)
    path = tmp_path / 'k.json'
    path.write_text(json.dumps({'keypoints': kp.tolist()}))
    args = _args(tmp_path, path, image_size=[W, H])
    result = infer_cli.run(args)
    assert result['poses_3d'].shape == (3, 16, 3)
    with np.load(tmp_path / 'out' / 'poses.npz') as data:
        np.testing.assert_allclose(data['keypoints_2d'],
                                   np.delete(kp, 9, axis=1), rtol=1e-6)
        assert 'neck_nose' not in list(data['joint_names'])


def test_run_rejects_bad_config(tmp_path, fake_loader):
    fake_loader.config = {'joints': 17}
    np.savez(tmp_path / 'k.npz', keypoints=fake_kp(2), image_size=[W, H])
    with pytest.raises(ValueError, match="'frames'"):
        infer_cli.run(_args(tmp_path, tmp_path / 'k.npz'))
    assert list((tmp_path / 'out').iterdir()) == []


def test_missing_joints_are_filled_and_flagged(tmp_path, fake_loader):
    """A confidence column, NaN and JSON null: read as missing joints,
    interpolated, and marked in the output (refused before)."""
    kp = fake_kp(4)
    rows = np.concatenate([kp, np.ones((4, 17, 1))], -1)
    rows[1, 5, 2] = 0.1  # below the 0.3 default
    rows[2, 6, :2] = np.nan
    doc = rows.tolist()
    doc[3][7][0] = None
    path = tmp_path / 'k.json'
    path.write_text(json.dumps({'image_size': [W, H], 'keypoints': doc}))
    infer_cli.run(_args(tmp_path, path))
    with np.load(tmp_path / 'out' / 'poses.npz') as data:
        filled, conf = data['filled'], data['confidence']
        kp2 = data['keypoints_2d']
    assert np.argwhere(filled).tolist() == [[1, 5], [2, 6], [3, 7]]
    assert conf[1, 5] == np.float32(0.1) and conf[2, 6] == 0
    np.testing.assert_allclose(kp2[1, 5], (kp[0, 5] + kp[2, 5]) / 2,
                               rtol=1e-5)
    np.testing.assert_allclose(kp2[3, 7], kp[2, 7], rtol=1e-5)  # held


def test_device_names_on_a_machine_with_two_gpus(monkeypatch):
    # no GPU is needed: torch is told there are two, so the names a GPU
    # user gives stay accepted and the message lists what is accepted
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    for name in ('cpu', 'cuda', 'cuda:0', 'cuda:1'):
        assert infer_cli._device(name) == name
    with pytest.raises(ValueError, match=r"--device 'cuda:2' is not "
                       r"available here; accepted here: cpu, cuda, cuda:0, "
                       r"cuda:1"):
        infer_cli._device('cuda:2')
    with pytest.raises(ValueError, match=r"'meta' is a device that cannot "
                       r"run the model"):
        infer_cli._device('meta')

import argparse
import json

import numpy as np
import pytest
import torch
from torch import nn

from models.pose import infer
from models.pose.skeleton import COCO_NAMES, JOINT_NAMES_17

W, H = 1000.0, 500.0


class CentreModel(nn.Module):
    """Stand-in with the checkpoint model's contract: [B, T, J, 2] ->
    [B, J, 3]. Returns the centre frame's 2D as x, y and the window's mean
    x as z, so tests can see which frames each window held."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(1)  # a parameter (device) and a mode
        self.modes = []

    def forward(self, x):
        assert x.dtype == torch.float32 and x.ndim == 4
        assert not torch.is_grad_enabled()
        self.modes.append(self.training)
        centre = x[:, x.shape[1] // 2]
        return torch.cat([centre, x[..., :1].mean(dim=1)], dim=-1)


def _keypoints(frames=6, joints=17, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([0, 0], [W, H], size=(frames, joints, 2))


def _args(tmp_path, input_path, **overrides):
    parser = argparse.ArgumentParser()
    infer.add_arguments(parser)
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
    monkeypatch.setattr(infer, 'load_model', load)
    load.calls = calls
    return load


# ------------------------------------------------------------ pure steps


def test_normalise_keypoints_hand_values():
    kp = np.array([[[0, 0], [W, H], [W / 2, H / 2]]])
    out = infer.normalise_keypoints(kp, (W, H))
    np.testing.assert_allclose(out[0], [[-1, -0.5], [1, 0.5], [0, 0]])
    assert out.dtype == np.float32


def test_window_indices_edge_padding():
    np.testing.assert_array_equal(infer.window_indices(5, 3), [
        [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 4]])
    np.testing.assert_array_equal(infer.window_indices(4, 1),
                                  [[0], [1], [2], [3]])
    # window longer than the sequence: edges repeated on both sides
    np.testing.assert_array_equal(infer.window_indices(2, 5), [
        [0, 0, 0, 1, 1], [0, 0, 1, 1, 1]])
    with pytest.raises(ValueError, match="'frames'"):
        infer.window_indices(3, 0)


def test_infer_poses_windows_batches_and_mode():
    kp = _keypoints(frames=7)
    model = CentreModel().train()
    poses = infer.infer_poses(model, kp, (W, H), frames=3, batch_size=2)
    assert poses.shape == (7, 17, 3) and poses.dtype == np.float32
    norm = infer.normalise_keypoints(kp, (W, H))
    # the output is made root-relative: joint 0 at exactly zero
    np.testing.assert_allclose(poses[..., :2], norm - norm[:, :1], atol=1e-6)
    # z: mean x over frames (f-1, f, f+1), edge frames repeated
    padded = norm[[0] + list(range(7)) + [6], :, 0]
    expected = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    np.testing.assert_allclose(poses[..., 2], expected - expected[:, :1],
                               atol=1e-6)
    assert np.all(poses[:, 0] == 0)
    assert model.modes == [False] * 4  # 4 batches, all in eval mode
    assert model.training  # mode given back
    same = infer.infer_poses(CentreModel(), kp, (W, H), 3, batch_size=256)
    np.testing.assert_allclose(same, poses)


def test_infer_poses_with_the_real_model_in_train_mode():
    # BatchNorm in train mode would fail on a batch of one window:
    # infer_poses must switch to eval for the call.
    from models.pose.model import MLPGraphWJ, ModelConfig
    model = MLPGraphWJ(ModelConfig(frames=3, layers=1, channels=16,
                                   hidden=32)).train()
    poses = infer.infer_poses(model, _keypoints(4), (W, H), 3, batch_size=1)
    assert poses.shape == (4, 17, 3) and np.isfinite(poses).all()
    assert np.all(poses[:, 0] == 0)  # root-relative, root exactly at zero
    assert model.training


def test_infer_poses_rejects_wrong_model_output():
    class Bad(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 16, 3)
    with pytest.raises(ValueError, match='model returned shape'):
        infer.infer_poses(Bad(), _keypoints(2), (W, H), 1)


# ------------------------------------------------------------ inputs


def test_coco_to_h36m_on_a_hand_made_pose(tmp_path):
    coco = {n: (0.0, 0.0) for n in COCO_NAMES}
    coco.update(nose=(500, 100), left_eye=(510, 90), right_eye=(490, 90),
                left_shoulder=(560, 150), right_shoulder=(440, 150),
                left_elbow=(580, 200), right_elbow=(420, 200),
                left_wrist=(590, 250), right_wrist=(410, 250),
                left_hip=(540, 300), right_hip=(460, 300),
                left_knee=(545, 380), right_knee=(455, 380),
                left_ankle=(550, 460), right_ankle=(450, 460))
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps({
        'image_size': [W, H], 'order': 'coco',
        'keypoints': [[coco[n] for n in COCO_NAMES]]}))
    data = infer.load_keypoints(path)
    h36m = dict(zip(JOINT_NAMES_17, data.keypoints[0].tolist()))
    assert data.order == 'coco' and data.keypoints.shape == (1, 17, 2)
    assert h36m['pelvis'] == [500, 300]
    assert h36m['thorax'] == [500, 150]
    assert h36m['spine'] == [500, 225]
    assert h36m['neck_nose'] == [500, 100]
    assert h36m['head'] == [500, 80]  # eyes (500, 90) + (eyes - nose)
    assert h36m['right_knee'] == [455, 380]
    assert h36m['left_wrist'] == [590, 250]
    assert h36m['right_shoulder'] == [440, 150]


def test_npz_input_with_and_without_image_size(tmp_path):
    kp = _keypoints(4)
    np.savez(tmp_path / 'a.npz', keypoints=kp, image_size=np.array([W, H]))
    data = infer.load_keypoints(tmp_path / 'a.npz')
    assert data.image_size == (W, H) and data.order == 'h36m'
    np.testing.assert_allclose(data.keypoints, kp)
    np.savez(tmp_path / 'b.npz', keypoints=kp[0])  # one frame, no size
    data = infer.load_keypoints(tmp_path / 'b.npz', image_size=[640, 480])
    assert data.keypoints.shape == (1, 17, 2)
    assert data.image_size == (640.0, 480.0)


def test_json_and_command_line_must_agree(tmp_path):
    path = tmp_path / 'k.json'
    path.write_text(json.dumps({'image_size': [W, H], 'order': 'h36m',
                                'keypoints': _keypoints(2).tolist()}))
    assert infer.load_keypoints(path, 'h36m', (W, H)).image_size == (W, H)
    with pytest.raises(ValueError, match='command line says'):
        infer.load_keypoints(path, order='coco')
    with pytest.raises(ValueError, match='command line says'):
        infer.load_keypoints(path, image_size=(640, 480))


def _write(tmp_path, kind):
    """A bad input file and the words its error must contain."""
    kp = _keypoints(3)
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
        return tmp_path / 'k.npz', 'expected 17 joints .* found 16'
    if kind == '25 joints':
        path = tmp_path / 'k.json'
        path.write_text(json.dumps({'image_size': [W, H], 'order': 'coco',
                                    'keypoints': _keypoints(3, 25).tolist()}))
        return path, 'found 25 .*OpenPose BODY_25'
    if kind == 'confidence column':
        np.savez(tmp_path / 'k.npz', keypoints=np.ones((3, 17, 3)),
                 image_size=[W, H])
        return tmp_path / 'k.npz', 'confidence'
    if kind == 'nan':
        kp[2, 5, 1] = np.nan
        np.savez(tmp_path / 'k.npz', keypoints=kp, image_size=[W, H])
        return tmp_path / 'k.npz', r'frame 2, joint 5 \(left_knee\)'
    if kind == 'json null':
        doc = kp.tolist()
        doc[1][0][0] = None
        path = tmp_path / 'k.json'
        path.write_text(json.dumps({'image_size': [W, H], 'keypoints': doc}))
        return path, r'frame 1, joint 0 \(pelvis\)'
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
        return tmp_path / 'k.csv', 'must be .npz or .json'
    raise AssertionError(kind)


BAD_INPUTS = ['missing file', 'wrong key', 'not an npz', '16 joints',
              '25 joints', 'confidence column', 'nan', 'json null',
              'ragged json', 'invalid json', 'negative image size',
              'three image sizes', 'no image size', 'bad suffix']


@pytest.mark.parametrize('kind', BAD_INPUTS)
def test_bad_input_one_readable_error_and_no_output(tmp_path, fake_loader,
                                                    kind):
    path, words = _write(tmp_path, kind)
    args = _args(tmp_path, path, stills=2,
                 animation=str(tmp_path / 'out' / 'a.gif'))
    with pytest.raises((ValueError, FileNotFoundError), match=words) as err:
        infer.run(args)
    assert str(path) in str(err.value)  # names the file
    assert '\n' not in str(err.value)  # one line
    assert list((tmp_path / 'out').iterdir()) == []
    assert fake_loader.calls == []  # refused before loading the model


@pytest.mark.parametrize('overrides, words', [
    ({'image_size': [W, 0.0]}, '--image-size'),
    ({'output': 'OUT/poses.txt'}, 'must end in .npz'),
    ({'output': 'OUT/missing/poses.npz'}, 'does not exist'),
    ({'animation': 'OUT/a.avi'}, '.gif, .mp4'),
    ({'stills': -1}, '--stills'),
])
def test_bad_options_write_nothing(tmp_path, fake_loader, overrides, words):
    np.savez(tmp_path / 'k.npz', keypoints=_keypoints(2))
    overrides = {k: v.replace('OUT', str(tmp_path / 'out'))
                 if isinstance(v, str) else v for k, v in overrides.items()}
    args = _args(tmp_path, tmp_path / 'k.npz', **overrides)
    if 'image_size' not in overrides:
        args.image_size = [W, H]
    with pytest.raises((ValueError, FileNotFoundError), match=words):
        infer.run(args)
    assert list((tmp_path / 'out').iterdir()) == []
    assert fake_loader.calls == []


def test_output_may_not_overwrite_input(tmp_path, fake_loader):
    np.savez(tmp_path / 'k.npz', keypoints=_keypoints(2), image_size=[W, H])
    args = _args(tmp_path, tmp_path / 'k.npz', output=str(tmp_path / 'k.npz'))
    with pytest.raises(ValueError, match='is the input file'):
        infer.run(args)


# ------------------------------------------------------------ end to end


def test_run_writes_npz_stills_and_animation(tmp_path, fake_loader, capsys):
    kp = _keypoints(5)
    np.savez(tmp_path / 'clip.npz', keypoints=kp, image_size=[W, H])
    args = _args(tmp_path, tmp_path / 'clip.npz', stills=2,
                 animation=str(tmp_path / 'out' / 'clip.gif'))
    result = infer.run(args)
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
    kp = _keypoints(3)
    path = tmp_path / 'k.json'
    path.write_text(json.dumps({'keypoints': kp.tolist()}))
    args = _args(tmp_path, path, image_size=[W, H])
    result = infer.run(args)
    assert result['poses_3d'].shape == (3, 16, 3)
    with np.load(tmp_path / 'out' / 'poses.npz') as data:
        np.testing.assert_allclose(data['keypoints_2d'],
                                   np.delete(kp, 9, axis=1), rtol=1e-6)
        assert 'neck_nose' not in list(data['joint_names'])


def test_run_rejects_bad_config(tmp_path, fake_loader):
    fake_loader.config = {'joints': 17}
    np.savez(tmp_path / 'k.npz', keypoints=_keypoints(2), image_size=[W, H])
    with pytest.raises(ValueError, match="'frames'"):
        infer.run(_args(tmp_path, tmp_path / 'k.npz'))
    assert list((tmp_path / 'out').iterdir()) == []


def test_plausibility_warnings():
    assert infer.plausibility_warnings(_keypoints(2), (W, H)) == []
    small = np.full((2, 17, 2), 0.3)
    assert 'normalised already' in infer.plausibility_warnings(
        small, (W, H))[0]
    far = _keypoints(2) + 5 * W
    assert 'outside' in infer.plausibility_warnings(far, (W, H))[0]

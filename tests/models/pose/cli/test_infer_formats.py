"""``infer`` end to end on every detector format: the scene of
``_detector_files`` goes in, one 3D pose per input frame comes out, with
the lost joint filled and flagged; several people, frame rates and every
output suffix."""
import json
import warnings

import numpy as np
import pytest
from bvh import Bvh

from models.common import outputs
from models.pose.__main__ import main
from models.pose.cli import infer as infer_cli
from models.pose.infer.layouts import LAYOUT_NAMES
from models.pose.nn.checkpoint import save_checkpoint
from tests.models.pose._infer_helpers import CentreModel
from tests.models.pose.cli import _detector_files as files
from tests.models.pose.cli._detector_files import (
    FILES,
    FRAMES,
    LEFT_WRIST_H36M,
    LOST,
    SHORT,
    H,
    W,
)
from tests.models.pose.deploy._onnx_models import tiny_model


@pytest.fixture
def fake_loader(monkeypatch):
    """The stand-in model (window 3, 17 joints, 50 fps); records calls and
    the length of every sequence it is given."""
    calls, lengths = [], []

    def load(path, device='cpu'):
        calls.append(path)
        return CentreModel().eval(), dict(load.config)
    load.config = {'frames': 3, 'joints': 17}
    load.calls, load.lengths = calls, lengths
    real = infer_cli.infer_poses

    def spy(model, keypoints, *rest):
        lengths.append(len(keypoints))
        return real(model, keypoints, *rest)
    monkeypatch.setattr(infer_cli, 'load_model', load)
    monkeypatch.setattr(infer_cli, 'infer_poses', spy)
    return load


def _infer(path, *options):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # VideoPose3D's pickle warning
        return main(['infer', str(path), '--checkpoint', 'model.pt',
                     *map(str, options)])


def _normalised(kp):
    """What the stand-in returns as x, y: the normalised centre frame,
    root-relative (the pelvis subtracted)."""
    kp = kp / W * 2 - [1, H / W]
    return kp - kp[:, :1]


@pytest.mark.parametrize('name', sorted(FILES))
def test_every_format_gives_one_pose_per_input_frame(tmp_path, fake_loader,
                                                     capsys, name):
    write, options, people = FILES[name]
    out = tmp_path / 'out.npz'
    assert _infer(write(tmp_path), '-o', out, *options) == 0
    with np.load(out) as data:
        poses, kp = data['poses_3d'], data['keypoints_2d']
        assert poses.shape == (FRAMES, 17, 3)
        assert data['frames'].tolist() == list(range(FRAMES))
        assert float(data['fps']) == 30.0
        assert np.argwhere(data['filled']).tolist() == [[LOST,
                                                         LEFT_WRIST_H36M]]
        assert data['confidence'][LOST, LEFT_WRIST_H36M] == 0
        assert not data['long_gap'].any()
    # 13 frames at 30 fps are 21 at the model's 50, and come back exactly
    assert fake_loader.lengths == [21]
    np.testing.assert_allclose(poses[..., :2], _normalised(kp), atol=1e-5)
    layout = {'openpose': 'body25', 'alphapose': 'halpe26',
              'mediapipe': 'mediapipe', 'project-json': 'h36m'
              }.get(name, 'coco')
    wrist = files.positions(layout, 0)[:, LAYOUT_NAMES[layout].index(
        'left_wrist')]
    np.testing.assert_allclose(kp[:, LEFT_WRIST_H36M], wrist, rtol=1e-5)
    text = capsys.readouterr().out
    assert f'{people} track(s)' in text
    assert f'frames 0-{FRAMES - 1}, {FRAMES} frames' in text


def test_all_people_each_into_their_own_files(tmp_path, fake_loader,
                                              capsys):
    write, options, _ = FILES['coco-results']
    out = tmp_path / 'o'
    out.mkdir()
    assert _infer(write(tmp_path), '-o', out / 'pose.npz', '-o',
                  out / 'pose.csv', '--all-people', *options) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        'pose_person0.csv', 'pose_person0.npz', 'pose_person1.csv',
        'pose_person1.npz']
    with np.load(out / 'pose_person1.npz') as data:
        assert data['frames'].tolist() == list(range(SHORT))
        np.testing.assert_allclose(data['keypoints_2d'][:, 13],
                                   files.positions('coco', 1)[:SHORT, 9],
                                   rtol=1e-5)
    assert 'person 1 (all people): frames 0-5' in capsys.readouterr().out


def test_person_takes_the_files_track_id(tmp_path, fake_loader, capsys):
    write, options, _ = FILES['alphapose']  # AlphaPose idx 1 and 2
    path = write(tmp_path)
    assert _infer(path, '-o', tmp_path / 'p.npz', '--person', 2,
                  *options) == 0
    with np.load(tmp_path / 'p.npz') as data:
        assert data['frames'].tolist() == list(range(SHORT))
    text = capsys.readouterr().out
    assert 'ids from the file' in text and 'person 2 (--person)' in text
    assert _infer(path, '-o', tmp_path / 'q.npz', '--person', 7,
                  *options) == 2
    assert '--person 7: no such track; expected one of [1, 2]' in \
        capsys.readouterr().err


def test_the_longest_track_by_default(tmp_path, fake_loader, capsys):
    write, options, _ = FILES['openpose']
    assert _infer(write(tmp_path), '-o', tmp_path / 'o.npz',
                  *options) == 0
    text = capsys.readouterr().out
    assert "2 track(s) (the tracker's ids): 0 (frames 0-12), 1 (frames " \
        "0-5)" in text
    assert 'person 0 (the longest track): frames 0-12' in text


def test_a_long_gap_is_filled_and_flagged(tmp_path, fake_loader, capsys):
    write, options, _ = FILES['coco-results']
    path = write(tmp_path)
    assert _infer(path, '-o', tmp_path / 'o.npz', '--max-gap', 0,
                  *options) == 0
    with np.load(tmp_path / 'o.npz') as data:
        assert np.argwhere(data['long_gap']).tolist() == [[LOST, 13]]
    assert 'gaps longer than 0 frames' in capsys.readouterr().err
    # a threshold above every score: nothing is seen at all
    assert _infer(path, '-o', tmp_path / 'p.npz', '--min-confidence', 0.95,
                  *options) == 2
    assert 'no person with a joint at confidence >= 0.95' in \
        capsys.readouterr().err


def test_a_rate_is_needed_where_the_file_has_none(tmp_path, fake_loader,
                                                  capsys):
    folder = files.openpose(tmp_path)
    assert _infer(folder, '-o', tmp_path / 'o.npz', '--image-size', W,
                  H) == 2
    assert 'the openpose file gives no frame rate; give --fps' in \
        capsys.readouterr().err
    clip = files.project_json(tmp_path, fps=30)
    assert _infer(clip, '-o', tmp_path / 'o.npz', '--fps', 25) == 2
    assert 'the file says 30.0, the caller 25.0' in capsys.readouterr().err
    assert fake_loader.calls == [] and not (tmp_path / 'o.npz').exists()


def test_thirty_fps_in_gives_one_pose_per_input_frame(tmp_path,
                                                      fake_loader):
    clip = files.project_json(tmp_path, frames=30, fps=30)
    assert _infer(clip, '-o', tmp_path / 'o.npz') == 0
    assert fake_loader.lengths == [49]  # 29 / 30 s at 50 fps
    with np.load(tmp_path / 'o.npz') as data:
        assert data['poses_3d'].shape == (30, 17, 3)


def test_a_project_file_without_a_rate_is_taken_at_the_models(
        tmp_path, fake_loader, capsys):
    """What infer did before --fps meant the input's rate: no resampling,
    now with a warning that says so."""
    assert _infer(files.project_npz(tmp_path), '-o', tmp_path / 'o.npz') == 0
    assert fake_loader.lengths == [FRAMES]
    assert "taking the frames at the model's 50 fps (no resampling)" in \
        capsys.readouterr().err
    with np.load(tmp_path / 'o.npz') as data:
        assert float(data['fps']) == 50.0


def test_every_output_suffix(tmp_path, fake_loader):
    clip = files.project_json(tmp_path)
    out = tmp_path / 'o'
    out.mkdir()
    names = ['p.npz', 'p.json', 'p.csv', 'p.bvh', 'p.gif']
    assert _infer(clip, *[a for n in names for a in ('-o', out / n)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    mocap = Bvh((out / 'p.bvh').read_text())
    assert mocap.nframes == FRAMES
    assert mocap.frame_time == pytest.approx(1 / 30, abs=1e-6)
    doc = json.loads((out / 'p.json').read_text())
    assert np.array(doc['filled']).sum() == 1
    header = (out / 'p.csv').read_text().splitlines()[0]
    assert header.endswith('confidence,filled,long_gap')


def test_mp4_with_the_bundled_ffmpeg(tmp_path, fake_loader):
    pytest.importorskip('imageio_ffmpeg')
    clip = files.project_json(tmp_path)
    assert _infer(clip, '-o', tmp_path / 'p.mp4') == 0
    assert (tmp_path / 'p.mp4').read_bytes()[4:8] == b'ftyp'


@pytest.mark.parametrize('second, words', [
    ('missing/p.bvh', 'does not exist'),
    ('p.txt', 'expected one of .npz, .json, .csv, .bvh, .gif, .mp4'),
    ('p.npz', 'given twice'),
    ('clip.json', 'is the input file'),
])
def test_every_output_is_checked_before_any_is_written(
        tmp_path, fake_loader, capsys, second, words):
    clip = files.project_json(tmp_path)
    before = sorted(tmp_path.iterdir())
    assert _infer(clip, '-o', tmp_path / 'p.npz', '-o',
                  tmp_path / second) == 2
    assert words in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == before
    assert fake_loader.calls == []


def test_no_output_into_the_openpose_folder(tmp_path, fake_loader, capsys):
    folder = files.openpose(tmp_path)
    before = sorted(folder.iterdir())
    assert _infer(folder, '-o', folder / 'poses.json', '--fps', 30) == 2
    assert 'inside the input directory' in capsys.readouterr().err
    assert sorted(folder.iterdir()) == before


def test_an_unwritable_directory_is_refused_first(tmp_path, fake_loader,
                                                  monkeypatch, capsys):
    """(as root every directory is writable: os.access, in the shared
    output rule, is the check)"""
    clip = files.project_json(tmp_path)
    monkeypatch.setattr(outputs.os, 'access', lambda path, mode: False)
    assert _infer(clip, '-o', tmp_path / 'p.npz') == 2
    assert f'directory {tmp_path} is not writable' in capsys.readouterr().err
    assert fake_loader.calls == []


def test_a_real_checkpoint_at_its_own_data_fps(tmp_path, monkeypatch):
    """A tiny trained-format checkpoint whose data were 25 fps: the 30 fps
    input is resampled to 25 for the model and back."""
    model = tiny_model()
    ckpt = tmp_path / 'best.pt'
    save_checkpoint(ckpt, {'model': model.state_dict(),
                           'model_config': model.config.to_dict(),
                           'data_fps': 25.0})
    lengths = []
    real = infer_cli.infer_poses
    monkeypatch.setattr(infer_cli, 'infer_poses', lambda m, kp, *a: (
        lengths.append(len(kp)), real(m, kp, *a))[1])
    clip = files.project_json(tmp_path)
    assert main(['infer', str(clip), '--checkpoint', str(ckpt), '-o',
                 str(tmp_path / 'o.npz')]) == 0
    assert lengths == [11]  # 12 / 30 s at 25 fps, plus the first
    with np.load(tmp_path / 'o.npz') as data:
        assert data['poses_3d'].shape[:2] == (FRAMES,
                                              model.config.joints)
        assert np.isfinite(data['poses_3d']).all()

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from models.pose.data.skeleton import H36M_16, H36M_17
from models.pose.viz import animation, curves, drawing, stills

# A standing person, camera frame (x right, y down, z forward), metres.
POSE_3D = np.array([
    [0, 0, 0], [-.13, 0, 0], [-.15, .45, .02], [-.16, .88, .05],
    [.13, 0, 0], [.15, .45, 0], [.16, .88, .03],
    [0, -.23, 0], [0, -.48, .01], [0, -.58, -.05], [0, -.68, 0],
    [.17, -.45, 0], [.35, -.25, .05], [.45, -.05, -.1],
    [-.17, -.45, 0], [-.3, -.2, .08], [-.3, .05, -.05]])
POSE_2D = (POSE_3D[:, :2] / (POSE_3D[:, 2:] + 4.5)) * 1145 + 500


def _png_ok(path):
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > 100


def test_pyplot_is_never_imported():
    # Figures live on their own Agg canvases: no global backend, no screen.
    code = ('import sys, models.pose.viz.animation, models.pose.viz.curves, '
            'models.pose.viz.stills; '
            'assert "matplotlib.pyplot" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True,
                   cwd=Path(__file__).resolve().parents[4])


def test_draw_skeleton_colours_by_side():
    fig = Figure()
    ax = fig.add_subplot()
    lines = drawing.draw_skeleton_2d(ax, POSE_2D, H36M_17)
    assert len(lines) == 16 + 1  # bones, then the joint markers
    colours = [ln.get_color() for ln in lines[:-1]]
    bones = H36M_17.edges.T
    for (_, child), colour in zip(bones, colours):
        if child in H36M_17.left:
            assert colour == drawing.LEFT_COLOUR
        elif child in H36M_17.right:
            assert colour == drawing.RIGHT_COLOUR
        else:
            assert colour == drawing.CENTRE_COLOUR
    assert ax.yaxis_inverted()  # image coordinates: y down


def test_draw_skeleton_3d_converts_camera_to_display():
    fig = Figure()
    ax = fig.add_subplot(projection='3d')
    lines = drawing.draw_skeleton_3d(ax, POSE_3D)
    xs, ys, zs = lines[-1].get_data_3d()
    np.testing.assert_allclose(xs, POSE_3D[:, 0])
    np.testing.assert_allclose(ys, POSE_3D[:, 2])  # depth
    np.testing.assert_allclose(zs, -POSE_3D[:, 1])  # up
    # the head (joint 10) is above the ankles on screen
    assert zs[10] > zs[3]
    spans = [np.ptp(ax.get_xlim3d()), np.ptp(ax.get_ylim3d()),
             np.ptp(ax.get_zlim3d())]
    np.testing.assert_allclose(spans, spans[0])  # equal aspect


def test_draw_rejects_wrong_joint_count():
    fig = Figure()
    with pytest.raises(ValueError, match='17 joints'):
        drawing.draw_skeleton_2d(fig.add_subplot(), POSE_2D[:16], H36M_17)


def test_save_pose_figure(tmp_path):
    out = stills.save_pose_figure(tmp_path / 'pose.png', POSE_2D, POSE_3D,
                                 gt_3d=POSE_3D + 0.01, title='test',
                                 image_size=(1000, 1000))
    _png_ok(out)
    _png_ok(stills.save_pose_figure(tmp_path / 'pose16.png',
                                   np.delete(POSE_2D, 9, 0),
                                   np.delete(POSE_3D, 9, 0)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['pose.png',
                                                          'pose16.png']


def test_save_pose_figure_rejects_nan(tmp_path):
    bad = POSE_3D.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="'pred_3d' holds NaN"):
        stills.save_pose_figure(tmp_path / 'x.png', POSE_2D, bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('target', ['missing_dir/pose.png', 'file.txt/p.png',
                                    'pose.bmpx'])
def test_unwritable_path_raises_and_leaves_nothing(tmp_path, target):
    (tmp_path / 'file.txt').write_text('x')
    before = sorted(os.listdir(tmp_path))
    with pytest.raises((FileNotFoundError, ValueError, NotADirectoryError)):
        stills.save_pose_figure(tmp_path / target, POSE_2D, POSE_3D)
    assert sorted(os.listdir(tmp_path)) == before


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(fig, path, dpi):
        raise OSError('disk full')
    monkeypatch.setattr(stills, 'save_figure', boom)
    with pytest.raises(OSError, match='disk full'):
        stills.save_error_per_joint(tmp_path / 'e.png', np.ones(17))
    assert list(tmp_path.iterdir()) == []


def test_save_pose_animation_gif(tmp_path):
    frames = np.stack([POSE_3D * (1 + 0.05 * k) for k in range(3)])
    inputs = np.stack([POSE_2D + 5 * k for k in range(3)])
    out = animation.save_pose_animation(tmp_path / 'a.gif', inputs, frames,
                                    fps=10)
    with Image.open(out) as im:
        assert im.format == 'GIF' and im.n_frames == 3
    assert [p.name for p in tmp_path.iterdir()] == ['a.gif']


def test_save_pose_animation_subsamples_long_sequences(tmp_path):
    frames = np.repeat(POSE_3D[None], 7, axis=0)
    inputs = np.repeat(POSE_2D[None], 7, axis=0)
    out = animation.save_pose_animation(tmp_path / 'a.gif', inputs, frames,
                                    fps=10, max_frames=3)
    with Image.open(out) as im:
        assert im.n_frames == 3  # every 3rd frame: 0, 3, 6


def test_save_pose_animation_errors(tmp_path, monkeypatch):
    seq2, seq3 = POSE_2D[None], POSE_3D[None]
    with pytest.raises(ValueError, match='.gif, .mp4'):
        animation.save_pose_animation(tmp_path / 'a.avi', seq2, seq3)
    monkeypatch.setattr(animation.animation.writers, 'is_available',
                        lambda name: False)
    with pytest.raises(ValueError, match='ffmpeg'):
        animation.save_pose_animation(tmp_path / 'a.mp4', seq2, seq3)
    with pytest.raises(ValueError, match='same frames'):
        animation.save_pose_animation(tmp_path / 'a.gif', seq2,
                                  np.repeat(seq3, 2, 0))
    with pytest.raises(ValueError, match='fps'):
        animation.save_pose_animation(tmp_path / 'a.gif', seq2, seq3, fps=0)
    assert list(tmp_path.iterdir()) == []


def test_save_training_curves_from_csv_and_rows(tmp_path):
    rows = [{'epoch': e, 'train_loss': 1.0 / e, 'test_mpjpe_mm': 90 - e,
             'test_p_mpjpe_mm': 60 - e, 'lr': 1e-3} for e in range(1, 6)]
    log = tmp_path / 'log.csv'
    with open(log, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _png_ok(curves.save_training_curves(tmp_path / 'c1.png', log))
    _png_ok(curves.save_training_curves(tmp_path / 'c2.png',
                                       [{'train_loss': 0.5,
                                         'val_mpjpe_mm': 70.0}]))
    # a run without a validation split logs no MPJPE: the loss alone
    _png_ok(curves.save_training_curves(tmp_path / 'c3.png',
                                       [{'train_loss': 0.5}]))


def test_save_training_curves_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        curves.save_training_curves(tmp_path / 'c.png', tmp_path / 'no.csv')
    with pytest.raises(ValueError, match='train_loss'):
        curves.save_training_curves(tmp_path / 'c.png', [{'val_mpjpe_mm': 1}])
    with pytest.raises(ValueError, match='no rows'):
        curves.save_training_curves(tmp_path / 'c.png', [])
    assert list(tmp_path.iterdir()) == []


def test_save_error_per_joint(tmp_path):
    _png_ok(stills.save_error_per_joint(tmp_path / 'e.png',
                                       np.linspace(10, 80, 17)))
    _png_ok(stills.save_error_per_joint(tmp_path / 'e16.png', np.ones(16),
                                       H36M_16))
    with pytest.raises(ValueError, match='16 values'):
        stills.save_error_per_joint(tmp_path / 'x.png', np.ones(16), H36M_17)

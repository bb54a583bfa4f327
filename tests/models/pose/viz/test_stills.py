"""Figures: stills (:mod:`models.pose.viz.stills`)."""
import os

import numpy as np
import pytest

from models.pose.data.skeleton import H36M_16, H36M_17
from models.pose.viz import stills
from tests.models.pose.viz._figures import POSE_2D, POSE_3D, png_ok


def test_save_pose_figure(tmp_path):
    out = stills.save_pose_figure(tmp_path / 'pose.png', POSE_2D, POSE_3D,
                                 gt_3d=POSE_3D + 0.01, title='test',
                                 image_size=(1000, 1000))
    png_ok(out)
    png_ok(stills.save_pose_figure(tmp_path / 'pose16.png',
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


def test_save_error_per_joint(tmp_path):
    png_ok(stills.save_error_per_joint(tmp_path / 'e.png',
                                       np.linspace(10, 80, 17)))
    png_ok(stills.save_error_per_joint(tmp_path / 'e16.png', np.ones(16),
                                       H36M_16))
    with pytest.raises(ValueError, match='16 values'):
        stills.save_error_per_joint(tmp_path / 'x.png', np.ones(16), H36M_17)

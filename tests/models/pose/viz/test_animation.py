"""Figures: animation (:mod:`models.pose.viz.animation`)."""

import numpy as np
import pytest
from PIL import Image

from models.pose.viz import animation
from tests.models.pose.viz._figures import POSE_2D, POSE_3D


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

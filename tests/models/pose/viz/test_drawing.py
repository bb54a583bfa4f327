"""Figures: drawing (:mod:`models.pose.viz.drawing`)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from models.pose.data.skeleton import H36M_17
from models.pose.viz import drawing
from tests.models.pose.viz._figures import POSE_2D, POSE_3D


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

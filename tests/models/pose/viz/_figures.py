"""Poses and checks shared by the figure tests."""
import numpy as np
from PIL import Image

# A standing person, camera frame (x right, y down, z forward), metres.
POSE_3D = np.array([
    [0, 0, 0], [-.13, 0, 0], [-.15, .45, .02], [-.16, .88, .05],
    [.13, 0, 0], [.15, .45, 0], [.16, .88, .03],
    [0, -.23, 0], [0, -.48, .01], [0, -.58, -.05], [0, -.68, 0],
    [.17, -.45, 0], [.35, -.25, .05], [.45, -.05, -.1],
    [-.17, -.45, 0], [-.3, -.2, .08], [-.3, .05, -.05]])
POSE_2D = (POSE_3D[:, :2] / (POSE_3D[:, 2:] + 4.5)) * 1145 + 500


def png_ok(path):
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > 100

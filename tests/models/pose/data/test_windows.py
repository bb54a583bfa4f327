"""The windowing codec: pixel normalisation, centred windows, flips."""
import numpy as np
import pytest
import torch

from models.pose.data.skeleton import H36M_16, H36M_17
from models.pose.data.windows import (
    centred_window_indices,
    check_image_size,
    flip_poses,
    normalize_keypoints,
)
from tests.models.pose._infer_helpers import H, W


def test_normalize_keypoints_hand_values():
    kp = np.array([[[0, 0], [W, H], [W / 2, H / 2]]])
    out = normalize_keypoints(kp, (W, H))
    np.testing.assert_allclose(out[0], [[-1, -0.5], [1, 0.5], [0, 0]])
    assert out.dtype == np.float32


def test_normalize_keypoints_refuses_bad_image_size_and_shape():
    with pytest.raises(ValueError, match=r"image_size: image size must be "
                       r"two positive numbers \[w, h\] in pixels, got "
                       r"\(0, 10\)"):
        normalize_keypoints(np.zeros((1, 17, 2)), (0, 10))
    with pytest.raises(ValueError, match=r"'keypoints_px' must have shape "
                       r"\[\.\.\., J, 2\], got \(17, 3\)"):
        normalize_keypoints(np.zeros((17, 3)), (W, H))
    assert check_image_size([640, 480], 'x') == (640.0, 480.0)


def test_centred_window_indices_clamp_to_each_bound():
    np.testing.assert_array_equal(
        centred_window_indices(np.array([0, 4, 5]), 3, np.array([0, 0, 5]),
                               np.array([4, 4, 9])),
        [[0, 0, 1], [3, 4, 4], [5, 5, 6]])
    np.testing.assert_array_equal(centred_window_indices(2, 5, 0, 3),
                                  [0, 1, 2, 3, 3])


@pytest.mark.parametrize('skeleton', [H36M_17, H36M_16])
def test_flip_is_its_own_inverse_and_swaps_sides(skeleton):
    j = skeleton.num_joints
    poses = torch.randn(4, 3, j, 3)
    flipped = flip_poses(poses, skeleton.flip_permutation)
    torch.testing.assert_close(flip_poses(flipped, skeleton.flip_permutation),
                               poses)
    for left, right in zip(skeleton.left, skeleton.right):
        torch.testing.assert_close(flipped[..., left, 1:],
                                   poses[..., right, 1:])
        torch.testing.assert_close(flipped[..., left, 0],
                                   -poses[..., right, 0])
    assert 'left_hip' in skeleton.names[skeleton.left[0]]
    array = poses.numpy()
    np.testing.assert_array_equal(
        flip_poses(array, skeleton.flip_permutation), flipped.numpy())

"""Warnings for input that reads but is probably wrong."""
import numpy as np

from models.pose.infer.plausibility import plausibility_warnings
from tests.models.pose._infer_helpers import H, W, fake_kp


def test_plausible_pixels_give_no_warning():
    assert plausibility_warnings(fake_kp(2), (W, H)) == []


def test_normalised_coordinates_are_flagged():
    messages = plausibility_warnings(np.full((2, 17, 2), 0.3), (W, H))
    assert len(messages) == 1 and 'normalised already' in messages[0]
    # a tiny image can hold such a pose in pixels
    assert plausibility_warnings(np.full((2, 17, 2), 0.3), (2, 2)) == []


def test_points_outside_the_image_are_flagged():
    messages = plausibility_warnings(fake_kp(2) + 5 * W, (W, H))
    assert messages == ['100% of the keypoints lie well outside the '
                        '1000 x 500 image: is the image size right?']
    one_out = fake_kp(20)
    one_out[0, 0] = [-W, -H]  # 1 of 340 joints: a person leaving the frame
    assert plausibility_warnings(one_out, (W, H)) == []

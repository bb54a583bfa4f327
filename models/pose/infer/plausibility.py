"""Warnings for 2D input that reads but is probably wrong.

The readers (:mod:`models.pose.infer.formats`) refuse what cannot be
keypoints; what is merely unlikely (normalised coordinates given as
pixels, a wrong image size) is only warned about, since a person may
well step partly out of the frame.
"""
from typing import List, Sequence

import numpy as np

from models.pose.data.windows import check_image_size


def plausibility_warnings(keypoints_px: np.ndarray,
                          image_size: Sequence[float]) -> List[str]:
    """Messages for ``[..., J, 2]`` pixels that load but are probably
    wrong for an image of ``image_size`` ``(w, h)``; empty when none."""
    w, h = check_image_size(image_size, 'image_size')
    kp = np.asarray(keypoints_px, dtype=np.float64)
    messages = []
    # a 32 px image can hold a pose within 1.5 px; a video frame cannot
    if w >= 32 and np.abs(kp).max() <= 1.5:
        messages.append('the keypoints all lie within [-1.5, 1.5]: they look '
                        'normalised already, but pixels are expected')
    outside = ((kp[..., 0] < -0.1 * w) | (kp[..., 0] > 1.1 * w) |
               (kp[..., 1] < -0.1 * h) | (kp[..., 1] > 1.1 * h)).mean()
    if outside > 0.05:
        messages.append(f'{outside:.0%} of the keypoints lie well outside the '
                        f'{w:g} x {h:g} image: is the image size right?')
    return messages

"""The real motion-capture clips behind the demo set (needs pybullet)."""
import numpy as np

from models.pose.data import deepmimic
from models.pose.data.skeleton import H36M_17


def _z_quaternion(angle):
    return np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)])


def test_slerp_follows_the_arc():
    q0, q1 = _z_quaternion(0.0), _z_quaternion(np.pi / 2)
    out = deepmimic.slerp(np.stack([q0] * 3), np.stack([q1] * 3),
                          np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out[0], q0, atol=1e-12)
    np.testing.assert_allclose(out[1], _z_quaternion(np.pi / 4), atol=1e-12)
    np.testing.assert_allclose(out[2], q1, atol=1e-12)
    # -q1 is the same rotation: the shorter arc is taken either way
    np.testing.assert_allclose(
        deepmimic.slerp(q0[None], -q1[None], np.array([0.5]))[0],
        _z_quaternion(np.pi / 4), atol=1e-12)


def test_resampling_at_the_clip_rate_returns_the_clip():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(6, 44))
    frames[:, 0] = 0.02  # already 50 fps
    out = deepmimic.resample_frames(frames, fps=50.0)
    assert out.shape == frames.shape
    col = 1
    for _, size in deepmimic.LAYOUT:
        a, b = frames[:, col:col + size], out[:, col:col + size]
        if size == 4:  # quaternions come back normalized, sign-free
            a = a / np.linalg.norm(a, axis=1, keepdims=True)
            b = b * np.sign(np.sum(a * b, axis=1, keepdims=True))
        np.testing.assert_allclose(b, a, atol=1e-9)
        col += size


def test_every_bone_keeps_its_length_in_every_frame():
    clips = deepmimic.load_clips()
    assert len(clips) == 15
    for clip in clips:
        parent, child = H36M_17.edges
        lengths = np.linalg.norm(clip['positions'][:, child]
                                 - clip['positions'][:, parent], axis=-1)
        spread = lengths.max(axis=0) - lengths.min(axis=0)
        # float32 storage: micrometres, where resampling joint positions
        # shortened limbs by centimetres
        assert spread.max() < 1e-4, (clip['name'], spread.max())

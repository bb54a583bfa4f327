"""The demo's new-body split: other proportions, same motion, new cameras
(the replay tests need pybullet)."""
import numpy as np
import pytest

from models.pose.data import bodies, deepmimic
from models.pose.data.camera import load_h36m_cameras
from models.pose.data.skeleton import H36M_17

CLIP = deepmimic.TEST_CLIPS[0]


def _lengths(poses):
    parent, child = H36M_17.edges
    return np.linalg.norm(poses[:, child] - poses[:, parent], axis=-1)


def _units(poses):
    parent, child = H36M_17.edges
    bones = poses[:, child] - poses[:, parent]
    return bones / np.linalg.norm(bones, axis=-1, keepdims=True)


def test_bone_lengths_follow_winters_table():
    got = bodies.bone_lengths(1.80)
    # Winter (2009) Fig. 4.1, fractions of the stature, by hand
    expected = {'left_knee': 0.245, 'right_ankle': 0.246,
                'left_elbow': 0.186, 'right_wrist': 0.146,
                'left_hip': 0.191 / 2, 'right_shoulder': 0.259 / 2,
                'trunk': 0.818 - 0.530}
    for bone, fraction in expected.items():
        assert got[bone] == pytest.approx(fraction * 1.80), bone
    # neck/nose, head and the legs' heights add up to the stature
    assert got['neck_nose'] + got['head'] == pytest.approx(
        (1 - 0.818) * 1.80)
    with pytest.raises(ValueError, match="'stature'"):
        bodies.bone_lengths(180.0)  # centimetres


@pytest.mark.parametrize('name, stature', sorted(bodies.BODIES.items()))
def test_replayed_bodies_have_the_tables_bones(name, stature):
    positions = bodies.replay(deepmimic.load_frames(CLIP),
                              deepmimic.humanoid_offsets(), stature)
    lengths = _lengths(positions)
    table = bodies.bone_lengths(stature)
    names = H36M_17.names
    _, child = H36M_17.edges
    for i, c in enumerate(child):
        if names[c] in ('spine', 'thorax'):
            continue  # the trunk: checked as a sum below
        np.testing.assert_allclose(lengths[:, i], table[names[c]],
                                   rtol=1e-9, err_msg=names[c])
    spine, thorax = (list(child).index(names.index(n))
                     for n in ('spine', 'thorax'))
    np.testing.assert_allclose(lengths[:, spine] + lengths[:, thorax],
                               table['trunk'], rtol=1e-9)


def test_the_new_body_moves_as_the_source_clip():
    frames, offsets = deepmimic.load_frames(CLIP), deepmimic.humanoid_offsets()
    source = deepmimic.forward_kinematics(frames, offsets) @ \
        deepmimic.Y_UP_TO_Z_UP.T
    small = bodies.replay(frames, offsets, 1.55)
    tall = bodies.replay(frames, offsets, 1.90)
    # the same joint rotations: every bone points the same way, frame by
    # frame, whatever its length
    np.testing.assert_allclose(_units(small), _units(source), atol=1e-9)
    np.testing.assert_allclose(_units(tall), _units(source), atol=1e-9)
    assert (_lengths(tall) > 1.1 * _lengths(small)).all()
    # the root travels in proportion to the legs
    legs = [bodies.bone_lengths(s)['left_knee']
            + bodies.bone_lengths(s)['left_ankle'] for s in (1.55, 1.90)]
    np.testing.assert_allclose((tall[:, 0] - tall[:1, 0]) * legs[0],
                               (small[:, 0] - small[:1, 0]) * legs[1],
                               atol=1e-9)


def test_new_body_cameras_differ_from_every_real_camera():
    new = bodies.new_body_cameras()
    real = [cam for cams in load_h36m_cameras().values() for cam in cams]
    intrinsics = {tuple(cam.intrinsics) for cam in real}
    for cam in new:
        assert tuple(cam.intrinsics) in intrinsics  # real intrinsics
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
        for other in real:
            assert np.linalg.norm(cam.t - other.t) > 1.0, (cam.id, other.id)
            # viewing directions at least 15 degrees apart
            assert cam.R[2] @ other.R[2] < np.cos(np.radians(15))
        # it looks at the capture volume: the centre at 1 m is in view
        ahead = cam.R @ (np.array([0, 0, 1.0]) - cam.t)
        assert ahead[2] > 4.0 and np.abs(ahead[:2]).max() < 1e-9

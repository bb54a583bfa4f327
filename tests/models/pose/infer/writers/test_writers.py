"""Writers: each format read back; the BVH through an independent parser
(the ``bvh`` package) and forward kinematics with SciPy's rotations."""
import csv
import json

import numpy as np
import pytest

from models.pose.data.skeleton import get_skeleton
from models.pose.infer.writers import PoseSequence, check_output, write_poses
from models.pose.infer.writers.bvh import euler_zxy

bvh = pytest.importorskip('bvh')
Rotation = pytest.importorskip('scipy.spatial.transform').Rotation


def _poses(frames=12, joints=17, seed=0):
    """A non-rigid walking-ish sequence: a standing pose whose bones
    wobble in direction and length from frame to frame."""
    sk = get_skeleton(joints)
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.25, size=(joints, 3))
    points = np.zeros((frames, joints, 3))
    for c, p in enumerate(sk.parents):
        if p >= 0:
            bone = base[c] + rng.normal(scale=0.05, size=(frames, 3))
            points[:, c] = points[:, p] + bone
    return sk, points


def _sequence(frames=12, joints=17, seed=0):
    sk, points = _poses(frames, joints, seed)
    rng = np.random.default_rng(1)
    return PoseSequence(
        points.astype(np.float32), sk.names, sk.parents,
        keypoints_2d=rng.uniform(0, 640, size=(frames, joints, 2)),
        confidence=rng.uniform(size=(frames, joints)),
        filled=rng.uniform(size=(frames, joints)) < 0.2,
        long_gap=np.zeros((frames, joints), bool),
        frames=np.arange(frames) + 5, fps=25.0, image_size=(640, 480))


def test_npz_round_trip(tmp_path):
    seq = _sequence()
    path = write_poses(tmp_path / 'out.npz', seq)
    with np.load(path) as data:
        np.testing.assert_array_equal(data['poses_3d'], seq.poses_3d)
        np.testing.assert_array_equal(data['filled'], seq.filled)
        assert data['confidence'].shape == (12, 17)
        assert data['joint_names'].tolist() == list(seq.joint_names)
        assert data['frames'][0] == 5 and float(data['fps']) == 25.0


def test_json_has_units_and_the_values(tmp_path):
    seq = _sequence()
    doc = json.loads(write_poses(tmp_path / 'o.json', seq).read_text())
    assert doc['units']['poses_3d'] == 'metres'
    assert 'y down' in doc['coordinates']
    np.testing.assert_allclose(doc['poses_3d'], seq.poses_3d, atol=1e-6)
    assert doc['filled'] == seq.filled.tolist()


def test_csv_rows_per_frame_and_joint(tmp_path):
    seq = _sequence()
    with open(write_poses(tmp_path / 'o.csv', seq), newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 * 17
    assert rows[18]['frame'] == '6' and rows[18]['joint'] == 'right_hip'
    assert float(rows[18]['z_m']) == pytest.approx(
        float(seq.poses_3d[1, 1, 2]), abs=1e-6)
    assert {'u_px', 'v_px', 'confidence', 'filled'} <= set(rows[0])


def _forward_kinematics(mocap):
    """Global positions of every joint of every frame, from the file
    alone: offsets, channels and ZXY Euler angles."""
    names = mocap.get_joints_names()
    positions = {}
    rotations = {}
    for name in names:
        parent = mocap.joint_parent(name)
        offset = np.array(mocap.joint_offset(name))
        channels = mocap.joint_channels(name)
        rot_names = [c for c in channels if c.endswith('rotation')]
        angles = np.array(mocap.frames_joint_channels(name, rot_names))
        local = Rotation.from_euler(
            ''.join(c[0] for c in rot_names), angles, degrees=True)
        if parent is None:
            pos = np.array(mocap.frames_joint_channels(
                name, ['Xposition', 'Yposition', 'Zposition']))
            rotations[name] = local
            positions[name] = pos + offset
        else:
            up = rotations[parent.name]
            rotations[name] = up * local
            positions[name] = positions[parent.name] + up.apply(offset)
    return positions


@pytest.mark.parametrize('joints', [17, 16])
def test_bvh_forward_kinematics_reproduces_the_bones(tmp_path, joints):
    seq = _sequence(joints=joints)
    path = write_poses(tmp_path / 'o.bvh', seq)
    mocap = bvh.Bvh(path.read_text())
    assert mocap.nframes == 12
    assert mocap.frame_time == pytest.approx(1 / 25)
    positions = _forward_kinematics(mocap)
    lifted = seq.poses_3d.astype(np.float64) * [100, -100, -100]
    for c, p in enumerate(seq.parents):
        if p < 0:
            continue
        got = positions[seq.joint_names[c]] - positions[seq.joint_names[p]]
        want = lifted[:, c] - lifted[:, p]
        cos = np.sum(got * want, -1) / (np.linalg.norm(got, axis=-1) *
                                        np.linalg.norm(want, axis=-1))
        angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert angle.max() < 1.0, (seq.joint_names[c], angle.max())
        median = np.median(np.linalg.norm(want, axis=-1))
        np.testing.assert_allclose(np.linalg.norm(got, axis=-1), median,
                                   rtol=1e-5)


def test_bvh_lengths_are_medians_not_means(tmp_path):
    sk, points = _poses(frames=5)
    points[4] *= 3.0  # one frame far too big: the median ignores it
    seq = PoseSequence(points, sk.names, sk.parents, fps=50.0)
    mocap = bvh.Bvh(write_poses(tmp_path / 'o.bvh', seq).read_text())
    offset = np.linalg.norm(mocap.joint_offset('right_knee'))
    lengths = np.linalg.norm(points[:, 2] - points[:, 1], axis=-1) * 100
    assert offset == pytest.approx(np.median(lengths), rel=1e-6)
    assert offset < lengths.mean() - 1e-3


def test_euler_zxy_matches_scipy_also_at_gimbal_lock():
    mats = Rotation.random(50, random_state=4).as_matrix()
    lock = Rotation.from_euler('ZXY', [[30, 90, 0], [-70, -90, 0]],
                               degrees=True).as_matrix()
    mats = np.concatenate([mats, lock])
    back = Rotation.from_euler('ZXY', euler_zxy(mats), degrees=True)
    np.testing.assert_allclose(back.as_matrix(), mats, atol=1e-9)


def test_bvh_handles_a_bone_turned_half_round(tmp_path):
    sk, points = _poses(frames=3)
    flip = points.copy()
    flip[1, 2] = points[1, 1] - (points[1, 2] - points[1, 1])  # knee
    flip[1, 3] = flip[1, 2] + (points[1, 3] - points[1, 2])
    seq = PoseSequence(flip, sk.names, sk.parents, fps=50.0)
    positions = _forward_kinematics(
        bvh.Bvh(write_poses(tmp_path / 'o.bvh', seq).read_text()))
    got = positions['right_knee'][1] - positions['right_hip'][1]
    want = (flip[1, 2] - flip[1, 1]) * [100, -100, -100]
    assert np.dot(got, want) / np.linalg.norm(got) / np.linalg.norm(want) \
        > np.cos(np.radians(1))


@pytest.mark.parametrize('name', ['o.txt', 'o', 'o.npy'])
def test_unknown_suffixes_are_refused_before_any_work(name):
    with pytest.raises(ValueError, match=r'expected one of \.npz, \.json, '
                       r'\.csv, \.bvh'):
        check_output(name)


@pytest.mark.parametrize('change, message', [
    ({'poses_3d': np.zeros((0, 17, 3))}, r"'poses_3d' must be \[F >= 1"),
    ({'poses_3d': np.full((2, 17, 3), np.nan)}, 'NaN or inf'),
    ({'confidence': np.zeros((3, 17))}, "'confidence' has shape"),
])
def test_bad_sequences_are_refused(change, message):
    sk = get_skeleton(17)
    args = {'poses_3d': np.zeros((2, 17, 3)), 'joint_names': sk.names,
            'parents': sk.parents, **change}
    with pytest.raises(ValueError, match=message):
        PoseSequence(**args)

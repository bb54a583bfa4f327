import json

import numpy as np
import pytest

from models.pose.data.skeleton import COCO_NAMES, JOINT_NAMES_17
from models.pose.infer.keypoints import (
    MAX_EXTENT,
    load_keypoints,
    plausibility_warnings,
)
from tests.models.pose._infer_helpers import H, W, fake_kp


def test_coco_to_h36m_on_a_hand_made_pose(tmp_path):
    coco = {n: (0.0, 0.0) for n in COCO_NAMES}
    coco.update(nose=(500, 100), left_eye=(510, 90), right_eye=(490, 90),
                left_shoulder=(560, 150), right_shoulder=(440, 150),
                left_elbow=(580, 200), right_elbow=(420, 200),
                left_wrist=(590, 250), right_wrist=(410, 250),
                left_hip=(540, 300), right_hip=(460, 300),
                left_knee=(545, 380), right_knee=(455, 380),
                left_ankle=(550, 460), right_ankle=(450, 460))
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps({
        'image_size': [W, H], 'order': 'coco',
        'keypoints': [[coco[n] for n in COCO_NAMES]]}))
    data = load_keypoints(path)
    h36m = dict(zip(JOINT_NAMES_17, data.keypoints[0].tolist()))
    assert data.order == 'coco' and data.keypoints.shape == (1, 17, 2)
    assert h36m['pelvis'] == [500, 300]
    assert h36m['thorax'] == [500, 150]
    assert h36m['spine'] == [500, 225]
    assert h36m['neck_nose'] == [500, 100]
    assert h36m['head'] == [500, 80]  # eyes (500, 90) + (eyes - nose)
    assert h36m['right_knee'] == [455, 380]
    assert h36m['left_wrist'] == [590, 250]
    assert h36m['right_shoulder'] == [440, 150]


def test_npz_input_with_and_without_image_size(tmp_path):
    kp = fake_kp(4)
    np.savez(tmp_path / 'a.npz', keypoints=kp, image_size=np.array([W, H]))
    data = load_keypoints(tmp_path / 'a.npz')
    assert data.image_size == (W, H) and data.order == 'h36m'
    np.testing.assert_allclose(data.keypoints, kp)
    np.savez(tmp_path / 'b.npz', keypoints=kp[0])  # one frame, no size
    data = load_keypoints(tmp_path / 'b.npz', image_size=[640, 480])
    assert data.keypoints.shape == (1, 17, 2)
    assert data.image_size == (640.0, 480.0)


def test_json_and_command_line_must_agree(tmp_path):
    path = tmp_path / 'k.json'
    path.write_text(json.dumps({'image_size': [W, H], 'order': 'h36m',
                                'keypoints': fake_kp(2).tolist()}))
    assert load_keypoints(path, 'h36m', (W, H)).image_size == (W, H)
    with pytest.raises(ValueError, match='command line says'):
        load_keypoints(path, order='coco')
    with pytest.raises(ValueError, match='command line says'):
        load_keypoints(path, image_size=(640, 480))


def test_plausibility_warnings():
    assert plausibility_warnings(fake_kp(2), (W, H)) == []
    small = np.full((2, 17, 2), 0.3)
    assert 'normalised already' in plausibility_warnings(
        small, (W, H))[0]
    far = fake_kp(2) + 5 * W
    assert 'outside' in plausibility_warnings(far, (W, H))[0]


def test_integer_and_far_but_bounded_coordinates_still_load(tmp_path):
    # the checks added for hostile files leave valid ones as they were:
    # JSON integers, and coordinates off the image but within MAX_EXTENT
    kp = np.full((3, 17, 2), 400, dtype=np.int64)
    limit = MAX_EXTENT * max(W, H)
    kp[1, 4] = [int(limit), -int(limit)]
    path = tmp_path / 'ints.json'
    path.write_text(json.dumps({'image_size': [W, H],
                                'keypoints': kp.tolist()}))
    got = load_keypoints(path).keypoints
    np.testing.assert_array_equal(got, kp.astype(np.float64))
    kp[1, 4, 0] = int(limit) + 1
    path.write_text(json.dumps({'image_size': [W, H],
                                'keypoints': kp.tolist()}))
    with pytest.raises(ValueError, match=r'frame 1, joint 4 \(left_hip\) '
                       r'is 1e\+07'):
        load_keypoints(path)


def test_error_names_joints_in_the_files_order(tmp_path):
    doc = {'image_size': [W, H], 'order': 'coco',
           'keypoints': fake_kp(2).tolist()}
    doc['keypoints'][1][0][1] = 'n/a'
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"frame 1, joint 0 \(nose\), y, is "
                       r"\"n/a\" \(a JSON string, not a number\)"):
        load_keypoints(path)

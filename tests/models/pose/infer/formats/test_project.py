"""The project's own .json / .npz files (formats.project) and the checks
every reader shares (formats.common): what the old single-format reader
(infer/keypoints.py) guaranteed still holds."""
import json

import numpy as np
import pytest

from models.pose.infer.formats import DetectionFileError, read_detections
from models.pose.infer.formats.common import MAX_EXTENT
from tests.models.pose._infer_helpers import H, W, fake_kp


def _json(path, **doc):
    path.write_text(json.dumps(doc))
    return path


def _xy(det):
    return np.stack([frame[0].keypoints for frame in det.frames])


def test_npz_with_and_without_image_size(tmp_path):
    kp = fake_kp(4)
    np.savez(tmp_path / 'a.npz', keypoints=kp, image_size=np.array([W, H]))
    det = read_detections(tmp_path / 'a.npz')
    assert det.image_size == (W, H) and det.layout == 'h36m'
    np.testing.assert_allclose(_xy(det), kp)
    np.savez(tmp_path / 'b.npz', keypoints=kp[0])  # one frame, no size
    det = read_detections(tmp_path / 'b.npz', image_size=[640, 480])
    assert det.num_frames == 1 and det.image_size == (640.0, 480.0)
    np.testing.assert_allclose(_xy(det)[0], kp[0])


def test_file_and_command_line_must_agree(tmp_path):
    path = _json(tmp_path / 'k.json', image_size=[W, H], order='h36m',
                 keypoints=fake_kp(2).tolist())
    det = read_detections(path, order='h36m', image_size=(W, H))
    assert det.image_size == (W, H)
    with pytest.raises(DetectionFileError, match=r"'order': the file says "
                       r"'h36m', the caller 'coco'"):
        read_detections(path, order='coco')
    with pytest.raises(DetectionFileError, match=r"'image_size': the file "
                       r"says \(1000.0, 500.0\), the caller \(640.0, "
                       r"480.0\)"):
        read_detections(path, image_size=(640, 480))


def test_integer_and_far_but_bounded_coordinates_still_load(tmp_path):
    # a small image, so that the relative bound (not ABSURD) decides
    size = [10, 8]
    limit = int(MAX_EXTENT * max(size))
    kp = np.full((3, 17, 2), 4, dtype=np.int64)
    kp[1, 4] = [limit, -limit]
    path = _json(tmp_path / 'ints.json', image_size=size,
                 keypoints=kp.tolist())
    np.testing.assert_array_equal(_xy(read_detections(path)), kp)
    kp[1, 4, 0] = limit + 1
    path = _json(path, image_size=size, keypoints=kp.tolist())
    with pytest.raises(DetectionFileError) as err:
        read_detections(path)
    assert str(err.value) == (
        f'{path}: frame 1, person 0, joint 4 (left_hip), x: 1e+05, beyond '
        f'1e+05 px (10000 times the 10 x 8 image); expected pixel '
        f'coordinates of that image: check the units and the image size')


def test_the_extent_is_checked_against_the_command_lines_size(tmp_path):
    path = _json(tmp_path / 'k.json', keypoints=[[[500, 400]] * 17])
    assert read_detections(path, image_size=(1, 1)).image_size == (1, 1)
    with pytest.raises(DetectionFileError, match=r'beyond 0.01 px'):
        read_detections(path, image_size=(1e-6, 1e-6))


def test_error_names_joints_in_the_files_order(tmp_path):
    kp = fake_kp(2).tolist()
    kp[1][0][1] = 'n/a'
    path = _json(tmp_path / 'coco.json', image_size=[W, H], order='coco',
                 keypoints=kp)
    with pytest.raises(DetectionFileError) as err:
        read_detections(path)
    assert str(err.value) == (
        f"{path}: 'keypoints', frame 1, joint 0 (nose), y: 'keypoints' "
        f'holds text (a JSON string) "n/a"; expected numbers')


@pytest.mark.parametrize('value, message', [
    ('500', r'frame 80, joint 3 \(right_ankle\), y: .* holds text'),
    (True, r'frame 80, joint 3 \(right_ankle\), y: .* holds true/false'),
    ({'x': 1}, r'frame 80, joint 3 .* holds a JSON object {"x": 1}'),
    (10 ** 400, r'frame 80, joint 3 .* too large for a float \(401 '
     r'digits\)'),
])
def test_a_non_number_deep_in_a_long_file_is_found(tmp_path, value,
                                                   message):
    # numpy reads "500" as 500.0 and true as 1.0: every item is checked,
    # not a sample of the first ones
    kp = [[[500, 400]] * 17 for _ in range(100)]
    kp[80][3] = [500, value]
    path = _json(tmp_path / 'k.json', image_size=[W, H], keypoints=kp)
    with pytest.raises(DetectionFileError, match=message):
        read_detections(path)


@pytest.mark.parametrize('array, message', [
    (np.full((2, 17, 2), '500'), r"'keypoints' holds text"),
    (np.ones((2, 17, 2), dtype=bool), r"'keypoints' holds true/false"),
])
def test_an_npz_of_text_or_booleans_is_refused(tmp_path, array, message):
    np.savez(tmp_path / 'k.npz', keypoints=array, image_size=[W, H])
    with pytest.raises(DetectionFileError, match=message):
        read_detections(tmp_path / 'k.npz')


def test_a_utf8_bom_file_is_read(tmp_path):
    # Windows editors write a byte-order mark before the JSON
    doc = {'image_size': [1000, 1000], 'keypoints': [[[500, 400]] * 17] * 3}
    path = tmp_path / 'bom.json'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps(doc).encode())
    det = read_detections(path)
    assert det.format == 'project' and det.num_frames == 3
    np.testing.assert_array_equal(_xy(det)[2, 16], [500, 400])

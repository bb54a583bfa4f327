"""Readers: small hand-made files written after each format's public
documentation, and the bad inputs each must refuse."""
import json
import pickle

import numpy as np
import pytest

from models.pose.infer.formats import (
    FORMATS,
    DetectionFileError,
    detect_format,
    read_detections,
)


def _flat(joints, x0=100.0, conf=0.9):
    """[x, y, c] * joints with distinct, checkable values."""
    out = []
    for j in range(joints):
        out += [x0 + j, 200.0 + 2 * j, conf]
    return out


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def coco_results(tmp_path):
    return _write(tmp_path / 'results.json', [
        {'image_id': 3, 'category_id': 1, 'keypoints': _flat(17),
         'score': 0.8},
        {'image_id': 1, 'category_id': 1, 'keypoints': _flat(17, 300.0),
         'score': 0.7},
        {'image_id': 1, 'category_id': 1, 'keypoints': _flat(17, 500.0),
         'score': 0.6}])


def coco_annotations(tmp_path):
    kp = _flat(17, conf=2)
    kp[2] = 0  # nose not labelled
    kp[5] = 1  # left eye labelled, hidden
    return _write(tmp_path / 'person_keypoints.json', {
        'images': [{'id': 7, 'width': 640, 'height': 480,
                    'file_name': 'a.jpg'},
                   {'id': 9, 'width': 640, 'height': 480,
                    'file_name': 'b.jpg'}],
        'annotations': [{'id': 1, 'image_id': 9, 'category_id': 1,
                         'keypoints': kp, 'num_keypoints': 16}],
        'categories': [{'id': 1, 'name': 'person'}]})


def openpose_dir(tmp_path, joints=25):
    folder = tmp_path / 'openpose'
    folder.mkdir()
    for frame in (0, 1, 2):
        people = [] if frame == 1 else [
            {'person_id': [-1], 'pose_keypoints_2d': _flat(joints),
             'face_keypoints_2d': [], 'hand_left_keypoints_2d': []}]
        if frame == 2:
            people[0]['pose_keypoints_2d'][3:6] = [0, 0, 0]  # missing
        _write(folder / f'clip_{frame:012d}_keypoints.json',
               {'version': 1.3, 'people': people})
    return folder


def alphapose(tmp_path, joints=26):
    return _write(tmp_path / 'alphapose-results.json', [
        {'image_id': f'{f}.jpg', 'category_id': 1,
         'keypoints': _flat(joints, 100.0 + f), 'score': 2.5,
         'box': [10, 10, 50, 80], 'idx': [f % 2 + 1]}
        for f in (0, 1, 2, 10)])


def mmpose(tmp_path):
    def inst(x, track):
        return {'keypoints': [[x + j, 5.0 * j] for j in range(17)],
                'keypoint_scores': [0.5] * 16 + [1.04],
                'bbox': [[0, 0, 10, 10]], 'bbox_score': 0.9,
                'track_id': track}
    return _write(tmp_path / 'results_clip.json', {
        'meta_info': {'dataset_name': 'coco'},
        'instance_info': [
            {'frame_id': 1, 'instances': [inst(10.0, 0), inst(90.0, 1)]},
            {'frame_id': 3, 'instances': [inst(11.0, 0)]}]})


def mediapipe(tmp_path):
    rows = [[0.5 + 0.001 * j, 0.25, 0.0, 0.9] for j in range(33)]
    return _write(tmp_path / 'mp.json', {'order': 'mediapipe', 'fps': 30,
                                         'image_size': [1280, 720],
                                         'keypoints': [rows, rows]})


def videopose3d(tmp_path, videos=('walk.mp4',)):
    kp = np.arange(4 * 17 * 2, dtype=np.float32).reshape(4, 17, 2)
    positions = {v: {'custom': [kp]} for v in videos}
    meta = {'layout_name': 'coco', 'num_joints': 17,
            'keypoints_symmetry': [[1, 3, 5], [2, 4, 6]],
            'video_metadata': {v: {'w': 1920, 'h': 1080} for v in videos}}
    path = tmp_path / 'data_2d_custom_test.npz'
    np.savez(path, positions_2d=np.array(positions, dtype=object),
             metadata=np.array(meta, dtype=object))
    return path


@pytest.mark.parametrize('maker, name', [
    (coco_results, 'coco-results'), (coco_annotations, 'coco-annotations'),
    (openpose_dir, 'openpose'), (alphapose, 'alphapose'),
    (mmpose, 'mmpose'), (mediapipe, 'project'),
    (videopose3d, 'videopose3d')])
def test_detect_format_names_each_fixture(tmp_path, maker, name):
    assert detect_format(maker(tmp_path)) == name
    assert name in FORMATS


def test_coco_results_keep_frames_in_image_order_with_holes(tmp_path):
    det = read_detections(coco_results(tmp_path))
    assert det.layout == 'coco' and det.frame_ids == (1, 2, 3)
    assert [len(f) for f in det.frames] == [2, 0, 1]
    person = det.frames[0][0]
    assert person.keypoints.shape == (17, 2)
    np.testing.assert_allclose(person.keypoints[4], [304.0, 208.0])
    np.testing.assert_allclose(person.confidence, 0.9)
    assert not det.has_track_ids and det.min_confidence == 0.3


def test_coco_annotations_flags_become_labelled_or_not(tmp_path):
    det = read_detections(coco_annotations(tmp_path))
    assert det.image_size == (640.0, 480.0) and det.frame_ids == (7, 9)
    assert det.frames[0] == ()
    conf = det.frames[1][0].confidence
    assert conf[0] == 0.0 and conf[1] == 1.0 and conf[2:].min() == 1.0


def test_openpose_body25_missing_joint_and_empty_frame(tmp_path):
    det = read_detections(openpose_dir(tmp_path))
    assert det.layout == 'body25' and det.num_frames == 3
    assert det.frames[1] == ()
    assert det.frames[2][0].confidence[1] == 0.0
    assert det.frames[0][0].track_id is None


def test_openpose_coco18(tmp_path):
    assert read_detections(openpose_dir(tmp_path, 18)).layout == 'coco18'


def test_alphapose_halpe_tracks_and_gap_frames(tmp_path):
    det = read_detections(alphapose(tmp_path))
    assert det.layout == 'halpe26' and det.num_frames == 11
    assert det.has_track_ids
    assert [p.track_id for p in det.frames[1]] == [2]
    assert det.frames[5] == ()


def test_mmpose_scores_tracks_and_clipping(tmp_path):
    det = read_detections(mmpose(tmp_path))
    assert det.format == 'mmpose' and det.frame_ids == (1, 2, 3)
    assert [p.track_id for p in det.frames[0]] == [0, 1]
    assert det.frames[1] == ()
    assert det.frames[0][0].confidence[-1] == 1.0  # 1.04 clipped


def test_mediapipe_landmarks_become_pixels(tmp_path):
    det = read_detections(mediapipe(tmp_path))
    assert det.layout == 'mediapipe' and det.fps == 30.0
    p = det.frames[0][0]
    np.testing.assert_allclose(p.keypoints[10], [0.51 * 1280, 180.0])
    np.testing.assert_allclose(p.confidence, 0.9)
    assert det.min_confidence == 0.5


def test_mediapipe_needs_an_image_size(tmp_path):
    path = _write(tmp_path / 'mp.json', {
        'order': 'mediapipe', 'keypoints': [[[0.5, 0.5, 1.0]] * 33]})
    with pytest.raises(DetectionFileError, match='normalised'):
        read_detections(path)
    det = read_detections(path, image_size=(100, 50))
    np.testing.assert_allclose(det.frames[0][0].keypoints[0], [50, 25])


def test_project_npz_with_confidence_column(tmp_path):
    kp = np.zeros((3, 17, 3))
    kp[..., 0], kp[..., 2] = 5.0, 0.4
    kp[1, 2] = np.nan  # a missing joint
    path = tmp_path / 'kp.npz'
    np.savez(path, keypoints=kp, image_size=np.array([64, 48]),
             order=np.array('h36m'))
    det = read_detections(path)
    assert det.layout == 'h36m' and det.image_size == (64.0, 48.0)
    assert det.frames[1][0].confidence[2] == 0.0
    assert det.frames[0][0].confidence[2] == 0.4


def test_videopose3d_warns_before_unpickling(tmp_path):
    path = videopose3d(tmp_path)
    with pytest.warns(UserWarning, match='allow_pickle=True'):
        det = read_detections(path)
    assert det.layout == 'coco' and det.image_size == (1920.0, 1080.0)
    np.testing.assert_allclose(det.frames[1][0].keypoints[0], [34, 35])


def test_videopose3d_with_several_videos_needs_a_name(tmp_path):
    path = videopose3d(tmp_path, ('a.mp4', 'b.mp4'))
    with pytest.warns(UserWarning), \
            pytest.raises(DetectionFileError, match="'a.mp4', 'b.mp4'"):
        read_detections(path)
    with pytest.warns(UserWarning):
        assert read_detections(path, video='b.mp4').num_frames == 4


def test_format_can_be_forced_and_options_are_checked(tmp_path):
    path = alphapose(tmp_path, 17)
    det = read_detections(path, format='coco-results')
    assert det.format == 'coco-results' and not det.has_track_ids
    with pytest.raises(ValueError, match="'format' must be one of"):
        read_detections(path, format='bvh')
    with pytest.raises(ValueError, match='takes no order'):
        read_detections(path, order='coco')


def test_a_file_value_and_a_differing_option_are_refused(tmp_path):
    with pytest.raises(DetectionFileError, match='image size'):
        read_detections(coco_annotations(tmp_path), image_size=(10, 10))
    assert read_detections(coco_results(tmp_path),
                           image_size=(10, 20)).image_size == (10.0, 20.0)


def _entry(keypoints):
    return [{'image_id': 4, 'category_id': 1, 'keypoints': keypoints}]


BIG = 10 ** 400  # json writes it; no float holds it


@pytest.mark.parametrize('keypoints, message', [
    (_flat(25), r"25 joints per person.*coco \(17 joints\)"),
    (_flat(17)[:-1], 'a flat list'),
    ([BIG] + _flat(17)[1:], 'too large for a float'),
    ([1e9] + _flat(17)[1:], r'joint 0 \(nose\)'),
    (['a'] * 51, 'holds text'),
    ([1, [2]] * 26, 'ragged or holds non-numbers'),
    ([True] * 51, 'true/false'),
    (_flat(17, conf=-0.5), 'confidence >= 0'),
])
def test_bad_coco_results_name_file_detection_and_problem(
        tmp_path, keypoints, message):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(_entry(keypoints)))
    with pytest.raises(DetectionFileError, match=message) as err:
        read_detections(path, format='coco-results')
    assert str(path) in str(err.value)
    assert 'detection 0 (image_id 4)' in str(err.value)


@pytest.mark.parametrize('doc, message', [
    ({'people': [{'pose_keypoints_2d': _flat(17)}]}, 'body25'),
    ({'people': [{'face_keypoints_2d': []}]}, 'pose_keypoints_2d'),
    ({'people': [{'pose_keypoints_2d': _flat(25), 'person_id': 'x'}]},
     'person_id'),
    ({'persons': []}, "'people' list"),
])
def test_bad_openpose_frames_name_the_frame_file_and_person(
        tmp_path, doc, message):
    folder = tmp_path / 'op'
    folder.mkdir()
    _write(folder / 'v_000000000000_keypoints.json',
           {'people': [{'pose_keypoints_2d': _flat(25)}]})
    bad = _write(folder / 'v_000000000001_keypoints.json', doc)
    with pytest.raises(DetectionFileError, match=message) as err:
        read_detections(folder)
    assert str(bad) in str(err.value)


@pytest.mark.parametrize('text, message', [
    ('{', 'not valid JSON'), ('{"x": 1}', 'no known keypoint format'),
    ('[]', 'no known keypoint format'), ('"a"', 'no known')])
def test_unknown_or_broken_json(tmp_path, text, message):
    path = tmp_path / 'x.json'
    path.write_text(text)
    with pytest.raises(DetectionFileError, match=message):
        read_detections(path)


def test_mmpose_bad_scores_and_unknown_count(tmp_path):
    path = _write(tmp_path / 'm.json', {'instance_info': [
        {'frame_id': 0, 'instances': [
            {'keypoints': [[1, 2]] * 17, 'keypoint_scores': [1] * 3}]}]})
    with pytest.raises(DetectionFileError, match='3 scores for 17'):
        read_detections(path)
    path = _write(tmp_path / 'm.json', {'instance_info': [
        {'frame_id': 0, 'instances': [{'keypoints': [[1, 2]] * 133}]}]})
    with pytest.raises(DetectionFileError, match='133 joints.*halpe26'):
        read_detections(path)


def test_project_file_with_a_wrong_joint_count_lists_layouts(tmp_path):
    path = _write(tmp_path / 'k.json', {'order': 'coco', 'image_size':
                                        [10, 10], 'keypoints':
                                        [[[1, 2]] * 25]})
    with pytest.raises(DetectionFileError, match='body25 \\(25 joints\\)'):
        read_detections(path)


def test_pickled_project_npz_is_refused(tmp_path):
    path = tmp_path / 'k.npz'
    np.savez(path, keypoints=np.array([{'a': 1}], dtype=object))
    with pytest.raises(DetectionFileError, match='allow_pickle=False'):
        read_detections(path)
    assert pickle  # the module builds the pickled fixtures above


def _alpha(keypoints, **extra):
    return [{'image_id': '3.jpg', 'category_id': 1, 'keypoints': keypoints,
             'score': 1.0, 'box': [0, 0, 1, 1], **extra}]


def _mm(keypoints):
    return {'instance_info': [{'frame_id': 2, 'instances': [
        {'keypoints': keypoints, 'keypoint_scores': [0.9] * 17}]}]}


@pytest.mark.parametrize('name, doc, message, place', [
    ('a.json', _alpha(_flat(17), idx='abc'), "track id 'idx'",
     "detection 0 (image_id '3.jpg')"),
    ('a.json', _alpha(_flat(18)), r'18 joints.*halpe26 \(26 joints\)',
     'detection 0'),
    ('m.json', _mm([[float('inf'), 0]] + [[1, 2]] * 16), 'finite pixels',
     "frame_id 2, instance 0, joint 0 (nose)"),
    ('m.json', _mm([[BIG, 0]] + [[1, 2]] * 16), 'too large for a float',
     'frame_id 2, instance 0'),
    ('m.json', _mm([[1, 2, 3]] * 17), r'\[\[x, y\], \.\.\.\]',
     'frame_id 2, instance 0'),
    ('p.json', {'image_size': [10, 10], 'keypoints': [[[1e7, 1]] * 17]},
     'finite pixels', 'frame 0, joint 0 (pelvis)'),
    ('p.json', {'image_size': [10, 10], 'keypoints': [[[1, 1, 1, 1]] * 17]},
     r"shape \[1, 17, 4\] for order 'h36m'", "'keypoints'"),
    ('p.json', {'image_size': [0, 10], 'keypoints': [[[1, 1]] * 17]},
     'two positive numbers', "'image_size'"),
    ('p.json', {'order': 'body21', 'keypoints': [[[1, 1]] * 17]},
     "one of \\['body25'", "'order'"),
    ('p.json', {'fps': -3, 'keypoints': [[[1, 1]] * 17]},
     r'a frame rate in \(0, 10000\]', "'fps'"),
    ('c.json', {'images': [{'id': 1, 'width': 640, 'height': 480},
                           {'id': 2, 'width': 320, 'height': 240}],
                'annotations': []}, 'one image size', 'images'),
])
def test_bad_files_name_the_place_and_the_problem(tmp_path, name, doc,
                                                  message, place):
    path = _write(tmp_path / name, doc)
    with pytest.raises(DetectionFileError, match=message) as err:
        read_detections(path)
    assert str(err.value).startswith(f'{path}: {place}')


def test_openpose_integer_overflow_names_the_frame_file(tmp_path):
    folder = tmp_path / 'op'
    folder.mkdir()
    bad = folder / 'v_000000000003_keypoints.json'
    bad.write_text('{"people": [{"pose_keypoints_2d": [%d%s]}]}'
                   % (BIG, ', 1' * 74))
    with pytest.raises(DetectionFileError, match='too large') as err:
        read_detections(folder)
    assert str(err.value).startswith(f'{bad}: person 0')


def test_videopose3d_with_a_wrong_shape(tmp_path):
    path = tmp_path / 'data_2d_custom_x.npz'
    np.savez(path, positions_2d=np.array({'v': {'custom': [np.zeros(
        (3, 25, 2))]}}, dtype=object), metadata=np.array({}, dtype=object))
    with pytest.warns(UserWarning), \
            pytest.raises(DetectionFileError, match=r'shape \[3, 25, 2\]'):
        read_detections(path)


@pytest.mark.parametrize('make, error, message', [
    (lambda p: p / 'missing.json', FileNotFoundError, 'does not exist'),
    (lambda p: p, DetectionFileError, 'without \\*_keypoints.json'),
    (lambda p: _write(p / 'k.txt', {}), DetectionFileError, 'suffix .txt'),
])
def test_detect_format_refuses_what_no_reader_takes(tmp_path, make, error,
                                                    message):
    with pytest.raises(error, match=message):
        detect_format(make(tmp_path))


@pytest.mark.parametrize('ids, expected', [
    ([3, 1], (1, 2, 3)),
    (['10.jpg', '8.jpg'], ('8.jpg', 9, '10.jpg')),
    (['b', 'a'], ('a', 'b')),
    ([139, 581929, 397133], (139, 397133, 581929)),  # photos, no video
])
def test_frame_order(ids, expected):
    from models.pose.infer.formats.common import frame_order
    assert frame_order(ids) == expected

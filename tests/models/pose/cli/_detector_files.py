"""One small scene written in every detector format, for the ``infer``
command's tests: person 0 in all ``FRAMES`` frames, person 1 in the first
``SHORT``, both moving linearly in time (so resampling between frame
rates is exact), person 0's left wrist lost in frame ``LOST``."""
import json

import numpy as np

from models.pose.infer.layouts import LAYOUT_NAMES

FRAMES, SHORT, LOST = 13, 6, 4
W, H = 1000.0, 800.0
LEFT_WRIST_H36M = 13


def positions(layout, person, frames=FRAMES):
    """``[F, J, 2]`` pixels: joint j of person p at frame f."""
    joints = len(LAYOUT_NAMES[layout])
    f = np.arange(frames)[:, None, None]
    j = np.arange(joints)[None, :, None]
    base = np.array([200.0 + 450 * person, 100.0])
    return base + np.concatenate([4 * j + 2 * f, 7 * j + 0 * f], -1)


def scores(layout, person, frames=FRAMES, lost_value=0.0, seen=0.9):
    conf = np.full((frames, len(LAYOUT_NAMES[layout])), seen)
    if person == 0:
        conf[LOST, LAYOUT_NAMES[layout].index('left_wrist')] = lost_value
    return conf


def _people(layout, frames=FRAMES):
    """``[(frame, person, xy [J, 2], conf [J])]`` in frame order."""
    out = []
    for f in range(frames):
        for p in (0, 1) if f < SHORT else (0,):
            out.append((f, p, positions(layout, p, frames)[f],
                        scores(layout, p, frames)[f]))
    return out


def _flat(xy, conf):
    return np.concatenate([xy, conf[:, None]], -1).ravel().tolist()


def _dump(path, doc):
    path.write_text(json.dumps(doc))
    return path


def coco_results(folder, frames=FRAMES):
    return _dump(folder / 'results.json', [
        {'image_id': f, 'category_id': 1, 'keypoints': _flat(xy, c),
         'score': 0.9} for f, _, xy, c in _people('coco', frames)])


def coco_annotations(folder, frames=FRAMES):
    anns = [{'id': n, 'image_id': f, 'category_id': 1,
             'keypoints': _flat(xy, np.where(c > 0, 2, 0)),
             'num_keypoints': int((c > 0).sum())}
            for n, (f, _, xy, c) in enumerate(_people('coco', frames))]
    return _dump(folder / 'person_keypoints.json', {
        'images': [{'id': f, 'width': W, 'height': H,
                    'file_name': f'{f:06d}.jpg'} for f in range(frames)],
        'annotations': anns, 'categories': [{'id': 1, 'name': 'person'}]})


def openpose(folder, frames=FRAMES):
    out = folder / 'openpose'
    out.mkdir()
    people = _people('body25', frames)
    for f in range(frames):
        _dump(out / f'clip_{f:012d}_keypoints.json', {'version': 1.3,
              'people': [{'person_id': [-1],
                          'pose_keypoints_2d': _flat(xy, c)}
                         for g, _, xy, c in people if g == f]})
    return out


def alphapose(folder, frames=FRAMES):
    return _dump(folder / 'alphapose-results.json', [
        {'image_id': f'{f}.jpg', 'category_id': 1,
         'keypoints': _flat(xy, c), 'score': 2.5, 'box': [0, 0, 9, 9],
         'idx': [p + 1]} for f, p, xy, c in _people('halpe26', frames)])


def mmpose(folder, frames=FRAMES):
    people = _people('coco', frames)
    return _dump(folder / 'results_clip.json', {
        'meta_info': {'dataset_name': 'coco'},
        'instance_info': [{'frame_id': f, 'instances': [
            {'keypoints': xy.tolist(), 'keypoint_scores': c.tolist(),
             'bbox': [[0, 0, 9, 9]], 'bbox_score': 0.9, 'track_id': p}
            for g, p, xy, c in people if g == f]}
            for f in range(frames)]})


def project_json(folder, frames=FRAMES, fps=30):
    rows = np.concatenate([positions('h36m', 0, frames),
                           scores('h36m', 0, frames)[..., None]], -1)
    return _dump(folder / 'clip.json', {
        'image_size': [W, H], 'order': 'h36m', 'fps': fps,
        'keypoints': rows.tolist()})


def project_npz(folder, frames=FRAMES):
    rows = np.concatenate([positions('coco', 0, frames),
                           scores('coco', 0, frames)[..., None]], -1)
    path = folder / 'clip.npz'
    np.savez(path, keypoints=rows, image_size=[W, H], order='coco')
    return path


def mediapipe(folder, frames=FRAMES):
    xy = positions('mediapipe', 0, frames) / [W, H]
    rows = np.concatenate([xy, np.zeros(xy.shape[:2] + (1,)),
                           scores('mediapipe', 0, frames)[..., None]], -1)
    return _dump(folder / 'mp.json', {
        'order': 'mediapipe', 'fps': 30, 'image_size': [W, H],
        'keypoints': rows.tolist()})


def videopose3d(folder, frames=FRAMES):
    kp = np.concatenate([positions('coco', 0, frames),
                         scores('coco', 0, frames)[..., None]], -1)
    meta = {'layout_name': 'coco', 'num_joints': 17,
            'keypoints_symmetry': [[1, 3, 5], [2, 4, 6]],
            'video_metadata': {'walk.mp4': {'w': W, 'h': H}}}
    path = folder / 'data_2d_custom_test.npz'
    np.savez(path, positions_2d=np.array(
        {'walk.mp4': {'custom': [kp]}}, dtype=object),
        metadata=np.array(meta, dtype=object))
    return path


#: format -> (writer, options the file needs, people in the file)
FILES = {
    'coco-results': (coco_results, ['--fps', '30', '--image-size',
                                    str(W), str(H)], 2),
    'coco-annotations': (coco_annotations, ['--fps', '30'], 2),
    'openpose': (openpose, ['--fps', '30', '--image-size', str(W),
                            str(H)], 2),
    'alphapose': (alphapose, ['--fps', '30', '--image-size', str(W),
                              str(H)], 2),
    'mmpose': (mmpose, ['--fps', '30', '--image-size', str(W), str(H)], 2),
    'project-json': (project_json, [], 1),
    'project-npz': (project_npz, ['--fps', '30'], 1),
    'mediapipe': (mediapipe, [], 1),
    'videopose3d': (videopose3d, ['--fps', '30'], 1),
}

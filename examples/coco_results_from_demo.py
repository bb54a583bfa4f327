"""A stand-in for a 2D detector's output: one held-out clip of the demo set
written as a COCO keypoint results file, at 30 fps, for trying
``python -m models.pose infer`` without running a detector.

    python examples/coco_results_from_demo.py runs/walk/results.json

The demo clips are 50 fps and in the Human3.6M joints; the file gets the
COCO-17 joints a detector writes (the face is made up around the
Human3.6M nose and head so that ``infer``'s COCO mapping gives them back),
the frames resampled to 30 fps, scores of 0.9, and a few wrists scored
0.05 as a detector loses them (``infer`` fills those in). The image is
the camera's (1000 x 1002 or 1000 x 1000 pixels; printed).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: models is not installed
from models.pose.data.demo import default_path, prepare_demo  # noqa: E402
from models.pose.data.format import load_prepared  # noqa: E402
from models.pose.data.skeleton import JOINT_NAMES_17  # noqa: E402
from models.pose.infer.layouts import LAYOUT_NAMES  # noqa: E402
from models.pose.infer.resample import resample_sequence  # noqa: E402

H36M = {name: j for j, name in enumerate(JOINT_NAMES_17)}


def to_coco(kp: np.ndarray) -> np.ndarray:
    """``[F, 17, 2]`` Human3.6M pixels -> COCO-17: limbs as they are;
    eyes halfway between nose and head (so the head comes back as the eye
    midpoint pushed away from the nose), ears beside the eyes."""
    nose, head = kp[:, H36M['neck_nose']], kp[:, H36M['head']]
    mid = 0.5 * (nose + head)
    side = 0.3 * np.linalg.norm(head - nose, axis=-1, keepdims=True) * \
        np.array([1.0, 0.0])
    face = {'nose': nose, 'left_eye': mid + side, 'right_eye': mid - side,
            'left_ear': mid + 2 * side, 'right_ear': mid - 2 * side}
    return np.stack([face[n] if n in face else kp[:, H36M[n]]
                     for n in LAYOUT_NAMES['coco']], axis=1)


def results(kp: np.ndarray, seed: int) -> list:
    """COCO results entries, one per frame (``image_id`` = frame)."""
    scores = np.full(kp.shape[:2], 0.9)
    rng = np.random.default_rng(seed)
    wrists = [LAYOUT_NAMES['coco'].index(n)
              for n in ('left_wrist', 'right_wrist')]
    lost = rng.choice(len(kp), size=max(1, len(kp) // 20), replace=False)
    scores[lost, rng.choice(wrists, size=len(lost))] = 0.05
    flat = np.concatenate([kp, scores[..., None]], -1).round(2)
    return [{'image_id': f, 'category_id': 1, 'score': 0.9,
             'keypoints': flat[f].ravel().tolist()} for f in range(len(kp))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', type=Path, help='.json file to write')
    parser.add_argument('--clip', default='dance_b',
                        help='held-out demo clip (default dance_b)')
    parser.add_argument('--camera', type=int, default=0)
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    path = default_path()
    if not path.exists():
        prepare_demo(path)
    data = load_prepared(path)
    i, seq = next((i, s) for i, s in enumerate(data.sequences)
                  if s['subject'] == 'test' and s['action'] == args.clip)
    start, length = int(seq['start']), int(seq['length'])
    kp = data.keypoints_2d['noisy'][args.camera, start:start + length]
    ones = np.ones(kp.shape[:2])
    kp, _, _ = resample_sequence(kp, ones, ones < 0,
                                 float(data.meta['fps']), args.fps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results(to_coco(kp), args.seed)))
    w, h = data.camera_resolution[i, args.camera]
    print(f'wrote {args.out}: {args.clip}, camera {args.camera}, '
          f'{len(kp)} frames at {args.fps:g} fps, image {w} x {h} px')


if __name__ == '__main__':
    main()

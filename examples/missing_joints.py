"""What lost joints cost: MPJPE on the demo set's held-out clips with the
complete 2D input, with a share of the joints dropped at random
(confidence 0) and filled as ``infer`` fills them
(:func:`models.pose.infer.tracks.fill_gaps`), with the same drops left at
(0, 0) px (for scale: what an unfilled input does), and with the clips at
half their frame rate, resampled for the model and back.

    python examples/missing_joints.py runs/demo/best.pt --drop 0.1 --seeds 3

MPJPE in mm, the ``noisy`` 2D source, every camera; per clip and camera,
then the mean per action, then over actions (as ``evaluate`` reports).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: models is not installed
from models.pose.cli.infer import load_model  # noqa: E402
from models.pose.data.camera import world_to_camera  # noqa: E402
from models.pose.data.demo import default_path, prepare_demo  # noqa: E402
from models.pose.data.format import load_prepared  # noqa: E402
from models.pose.infer.lift import infer_poses  # noqa: E402
from models.pose.infer.resample import (  # noqa: E402
    resample_sequence,
    to_input_frames,
)
from models.pose.infer.tracks import Track, fill_gaps  # noqa: E402


def mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    return float(1000 * np.linalg.norm(pred - target, axis=-1).mean())


def test_views(data):
    """``(action, keypoints [F, 17, 2] px, image size, root-relative 3D
    camera-frame targets [F, 17, 3] m)`` per held-out clip and camera."""
    for i, seq in enumerate(data.sequences):
        if seq['subject'] not in data.test_subjects:
            continue
        s, n = int(seq['start']), int(seq['length'])
        world = data.positions_3d[s:s + n].astype(np.float64)
        for c in range(data.num_cameras):
            cam = world_to_camera(world, data.camera_R[i, c],
                                  data.camera_t[i, c])
            size = tuple(float(v) for v in data.camera_resolution[i, c])
            kp = data.keypoints_2d['noisy'][c, s:s + n].astype(np.float64)
            yield seq['action'], kp, size, cam - cam[:, :1]


def half_rate(lift, kp: np.ndarray, size, fps: float) -> np.ndarray:
    """The clip at ``fps / 2`` (every other frame), through the
    resampler to ``fps`` for the model and back to its own frames."""
    half = kp[::2]
    ones = np.ones(half.shape[:2])
    up, _, _ = resample_sequence(half, ones, ones < 0, fps / 2, fps)
    return to_input_frames(lift(up, size), fps, fps / 2, len(half))


def scores(data, lift, drop: float, seeds: int, fps: float) -> dict:
    rows = {'complete': [], 'dropped, filled': [], 'dropped, at (0, 0)': [],
            f'{fps / 2:g} fps in': []}
    for action, kp, size, target in test_views(data):
        rows['complete'].append((action, mpjpe(lift(kp, size), target)))
        rows[f'{fps / 2:g} fps in'].append(
            (action, mpjpe(half_rate(lift, kp, size, fps), target[::2])))
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            conf = np.where(rng.random(kp.shape[:2]) < drop, 0.0, 1.0)
            filled = fill_gaps(Track(0, 0, kp, conf), 0.5).keypoints
            rows['dropped, filled'].append(
                (action, mpjpe(lift(filled, size), target)))
            zeroed = np.where(conf[..., None] > 0, kp, 0.0)
            rows['dropped, at (0, 0)'].append(
                (action, mpjpe(lift(zeroed, size), target)))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', type=Path)
    parser.add_argument('--drop', type=float, default=0.1,
                        help='share of joints dropped (default 0.1)')
    parser.add_argument('--seeds', type=int, default=3,
                        help='random draws of the drops (default 3)')
    args = parser.parse_args(argv)
    path = default_path()
    if not path.exists():
        prepare_demo(path)
    data = load_prepared(path)
    model, config = load_model(args.checkpoint)
    fps = float(data.meta['fps'])
    rows = scores(data, lambda kp, size: infer_poses(
        model, kp, size, config['frames']), args.drop, args.seeds, fps)
    print(f"{args.checkpoint}: window {config['frames']}, drop "
          f"{args.drop:.0%}, {args.seeds} draw(s)")
    for name, values in rows.items():
        by_action = {}
        for action, value in values:
            by_action.setdefault(action, []).append(value)
        means = {a: np.mean(v) for a, v in sorted(by_action.items())}
        print(f'{name:20s} MPJPE {np.mean(list(means.values())):7.2f} mm ('
              + ', '.join(f'{a} {m:.2f}' for a, m in means.items()) + ')')


if __name__ == '__main__':
    main()

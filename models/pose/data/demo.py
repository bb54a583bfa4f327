"""``prepare-demo``: the built-in demo set, made of REAL recorded motion.

Human3.6M cannot ship, so the demo uses motion-capture clips that install
offline with a package (see :mod:`models.pose.data.deepmimic` for which,
its licence and the joint mapping). Each clip, already converted to the
17-joint Human3.6M skeleton in metres, is placed in the Human3.6M capture
volume (root trajectory centred on the world origin, lowest joint on the
floor, the clip's own heading kept) and filmed by the four real Human3.6M
cameras of one subject's calibration. The 2D inputs are the exact
projections (source ``gt``) and the same with Gaussian pixel noise like a
detector's (source ``noisy``). Test clips are held out entirely: no frame of
their motion is seen in training.
"""
import argparse
import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from models.pose.camera import (load_h36m_cameras, project_to_pixels,
                                world_to_camera)
from models.pose.data.format import (PreparedPoses, load_prepared, make_meta,
                                     save_prepared)

REPO = Path(__file__).resolve().parents[3]
TRAIN_CALIBRATIONS = ('S1', 'S5', 'S6', 'S7', 'S8')
TEST_CALIBRATIONS = ('S9', 'S11')


def default_path() -> Path:
    root = os.environ.get('PYG_WJ_DATA_DIR')
    return (Path(root) if root else REPO / 'data' / 'prepared') / 'demo.npz'


def place_in_capture_volume(positions: np.ndarray) -> np.ndarray:
    """Centre the root trajectory on the origin and stand on the floor."""
    out = positions.astype(np.float64).copy()
    out[..., :2] -= out[:, 0, :2].mean(axis=0)
    out[..., 2] -= out[..., 2].min()
    return out


def prepare_demo(out: Optional[Path] = None, noise_px: float = 2.0,
                 seed: int = 0) -> PreparedPoses:
    """Build the demo file from the installed motion-capture package."""
    from models.pose.data import deepmimic as demo_source

    out = Path(out) if out else default_path()
    clips = demo_source.load_clips()
    test_names = set(demo_source.TEST_CLIPS)
    cameras = load_h36m_cameras()
    rng = np.random.default_rng(seed)

    sequences: List[Dict] = []
    positions, gt_2d = [], []
    cam_R, cam_t, cam_k, cam_res = [], [], [], []
    counters = {True: 0, False: 0}
    start = 0
    for clip in clips:
        is_test = clip['name'] in test_names
        calib = (TEST_CALIBRATIONS if is_test else TRAIN_CALIBRATIONS)
        calib = calib[counters[is_test] % len(calib)]
        counters[is_test] += 1
        world = place_in_capture_volume(clip['positions'])
        cams = cameras[calib]
        views = []
        for cam in cams:
            views.append(project_to_pixels(world_to_camera(world, cam.R,
                                                           cam.t),
                                           cam.intrinsics))
        positions.append(world.astype(np.float32))
        gt_2d.append(np.stack(views).astype(np.float32))
        cam_R.append(np.stack([c.R for c in cams]))
        cam_t.append(np.stack([c.t for c in cams]))
        cam_k.append(np.stack([c.intrinsics for c in cams]))
        cam_res.append(np.stack([c.resolution for c in cams]))
        sequences.append({'subject': 'test' if is_test else 'train',
                          'action': clip['action'], 'start': start,
                          'length': int(len(world)), 'clip': clip['name'],
                          'calibration': calib})
        start += len(world)
    keypoints = np.concatenate(gt_2d, axis=1)
    noisy = keypoints + rng.normal(0.0, noise_px, keypoints.shape)
    provenance = demo_source.source_info()
    provenance.update(
        clips=[s['clip'] for s in sequences],
        test_clips=sorted(test_names),
        noise_px=noise_px, noise_seed=seed,
        placement='root trajectory centred on the world origin, lowest '
                  'joint on the floor; filmed by the 4 Human3.6M cameras of '
                  'the calibration named per sequence')
    data = PreparedPoses(
        meta=make_meta('demo', 50.0, sequences, ['train'], ['test'],
                       ['gt', 'noisy'], provenance),
        positions_3d=np.concatenate(positions),
        camera_R=np.stack(cam_R).astype(np.float32),
        camera_t=np.stack(cam_t).astype(np.float32),
        camera_intrinsics=np.stack(cam_k).astype(np.float32),
        camera_resolution=np.stack(cam_res).astype(np.int32),
        keypoints_2d={'gt': keypoints,
                      'noisy': noisy.astype(np.float32)})
    save_prepared(out, data)
    n_test = sum(s['length'] for s in sequences if s['subject'] == 'test')
    print(f"Prepared the demo set {out}: {len(sequences)} real mocap clips "
          f"({len(data.positions_3d):,} frames at 50 fps, {n_test:,} of them "
          f"held out for testing) from {provenance.get('package')} "
          f"{provenance.get('version')}", flush=True)
    return data


def ensure_demo(path: Optional[Path] = None) -> Path:
    """Path of the prepared demo set, preparing it on first use."""
    path = Path(path) if path else default_path()
    if path.exists():
        try:
            load_prepared(path)
            return path
        except ValueError as err:
            print(f'Rebuilding the demo set: {err}', flush=True)
    prepare_demo(path)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', type=Path, default=None,
                        help='output .npz (default: data/prepared/demo.npz '
                        'or $PYG_WJ_DATA_DIR/demo.npz)')
    parser.add_argument('--noise-px', type=float, default=2.0,
                        help="std of the pixel noise of the 'noisy' source")
    parser.add_argument('--seed', type=int, default=0)


def run(args: argparse.Namespace) -> None:
    prepare_demo(args.out, args.noise_px, args.seed)

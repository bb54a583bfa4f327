"""The built-in demo set, made of REAL recorded motion (the command line is
:mod:`models.pose.cli.prepare_demo`, ``prepare-demo``).

Human3.6M cannot ship, so the demo uses motion-capture clips that install
offline with a package (see :mod:`models.pose.data.deepmimic` for which,
its licence and the joint mapping). Each clip, already converted to the
17-joint Human3.6M skeleton in metres, is placed in the Human3.6M capture
volume (root trajectory centred on the world origin, lowest joint on the
floor, the clip's own heading kept) and filmed by the four real Human3.6M
cameras of one subject's calibration. The 2D inputs are the exact
projections (source ``gt``) and the same with noise shaped like a 2D
detector's errors (source ``noisy``, see :func:`detector_noise`). Test clips
are held out entirely: no frame of their motion is seen in training.

A second test split, ``new-body`` (meta ``extra_test_splits``, subjects
``NB-small`` and ``NB-tall``), replays the test clips' joint rotations on a
small and a tall adult of Winter's proportions
(:mod:`models.pose.data.bodies`), filmed by 4 cameras at poses no
training (or test) camera has, with the real cameras' intrinsics.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from models.pose.data import deepmimic as demo_source
from models.pose.data.camera import (
    Camera,
    load_h36m_cameras,
    project_to_pixels,
    world_to_camera,
)
from models.pose.data.format import (
    PreparedPoses,
    assemble_prepared,
    load_prepared,
    make_meta,
    save_prepared,
)
from models.pose.data.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS

REPO = Path(__file__).resolve().parents[3]
#: Bumped whenever the way the demo set is built changes, so that an older
#: prepared file is rebuilt rather than silently reused (2: slerp
#: resampling and detector-shaped noise; 3: the new-body test split).
DEMO_VERSION = 3
#: The extra test split of new bodies seen by new cameras.
NEW_BODY_SPLIT = 'new-body'


def default_path() -> Path:
    root = os.environ.get('PYG_WJ_DATA_DIR')
    return (Path(root) if root else REPO / 'data' / 'prepared') / 'demo.npz'


#: Per-joint scale of the 'noisy' source's jitter, in the Human3.6M order:
#: detectors are most precise on the torso and least on the extremities
#: (wrists, ankles) and on the head points a body model only implies.
NOISE_SCALE = np.array([1.2, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.2, 1.0, 1.0,
                        1.3, 1.0, 1.3, 1.8, 1.0, 1.3, 1.8])
#: Share of (frame, joint) detections that are outliers (a limb mistaken for
#: another, a joint on the background) and their typical distance (pixels).
OUTLIER_RATE, OUTLIER_PX = 0.01, 30.0


def detector_noise(keypoints: np.ndarray, noise_px: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``keypoints`` ``[..., 17, 2]`` (pixels) with errors shaped like a 2D
    detector's: Gaussian jitter of ``noise_px`` times a per-joint scale
    (:data:`NOISE_SCALE`), and a share :data:`OUTLIER_RATE` of outliers
    thrown ``OUTLIER_PX`` pixels (exponentially distributed) in a random
    direction. With ``noise_px = 0`` the keypoints come back unchanged."""
    if noise_px == 0:
        return keypoints.copy()
    jitter = rng.normal(0.0, 1.0, keypoints.shape) * (
        noise_px * NOISE_SCALE[:, None])
    outlier = rng.random(keypoints.shape[:-1]) < OUTLIER_RATE
    angle = rng.uniform(0.0, 2 * np.pi, keypoints.shape[:-1])
    distance = rng.exponential(OUTLIER_PX, keypoints.shape[:-1]) * outlier
    jump = np.stack([np.cos(angle), np.sin(angle)], -1) * distance[..., None]
    return keypoints + jitter + jump


def place_in_capture_volume(positions: np.ndarray) -> np.ndarray:
    """Centre the root trajectory on the origin and stand on the floor."""
    out = positions.astype(np.float64).copy()
    out[..., :2] -= out[:, 0, :2].mean(axis=0)
    out[..., 2] -= out[..., 2].min()
    return out


def _calibrations(clips: List[Dict], test_names: Set[str]) -> List[str]:
    """Per clip, whose cameras film it: training clips take the training
    subjects' calibrations in turn, test clips the test subjects'."""
    counters = {True: 0, False: 0}
    out = []
    for clip in clips:
        is_test = clip['name'] in test_names
        calib = (TEST_SUBJECTS if is_test else TRAIN_SUBJECTS)
        out.append(calib[counters[is_test] % len(calib)])
        counters[is_test] += 1
    return out


def _film(world: np.ndarray, cams: List[Camera]) -> np.ndarray:
    """``[C, F, 17, 2]`` exact pixel projections of world positions."""
    return np.stack([project_to_pixels(world_to_camera(world, cam.R, cam.t),
                                       cam.intrinsics) for cam in cams])


def _provenance(source_info: Dict, sequences: List[Dict],
                test_names: Set[str], noise_px: float, seed: int) -> Dict:
    """Where the clips came from and how the set was built from them."""
    provenance = dict(source_info)
    provenance.update(
        clips=[s['clip'] for s in sequences],
        test_clips=sorted(test_names),
        demo_version=DEMO_VERSION, noise_px=noise_px, noise_seed=seed,
        noise_model=f'per-joint Gaussian jitter ({noise_px} px times '
                    f'{NOISE_SCALE.tolist()}) plus {OUTLIER_RATE:.0%} '
                    f'outliers at an exponential {OUTLIER_PX} px',
        placement='root trajectory centred on the world origin, lowest '
                  'joint on the floor; filmed by the 4 Human3.6M cameras of '
                  'the calibration named per sequence')
    return provenance


def _new_body_provenance() -> Dict:
    from models.pose.data import bodies

    return {'split': NEW_BODY_SPLIT, 'statures_m': dict(bodies.BODIES),
            'proportions': 'D. A. Winter, Biomechanics and Motor Control of '
                           'Human Movement, 4th ed. (2009), Fig. 4.1',
            'cameras': f'yaws {list(bodies.NEW_CAMERA_YAWS)} deg, '
                       f'{bodies.NEW_CAMERA_DISTANCE} m away, '
                       f'{bodies.NEW_CAMERA_HEIGHT} m high, aimed at '
                       f'{bodies.NEW_CAMERA_AIM} m; real intrinsics'}


def _new_body_parts(demo_source, test_names: Set[str], start: int
                    ) -> Tuple[List[Dict], List, List, List]:
    """``(sequences, positions, cameras, gt 2D)`` of the new-body split:
    every test clip played by every body of :data:`bodies.BODIES`."""
    from models.pose.data import bodies

    offsets, cams = demo_source.humanoid_offsets(), bodies.new_body_cameras()
    sequences: List[Dict] = []
    positions, views, gt_2d = [], [], []
    for name in sorted(test_names):
        frames = demo_source.load_frames(name)
        for subject, stature in bodies.BODIES.items():
            world = place_in_capture_volume(
                bodies.replay(frames, offsets, stature))
            positions.append(world.astype(np.float32))
            views.append(cams)
            gt_2d.append(_film(world, cams).astype(np.float32))
            sequences.append({
                'subject': subject, 'action': name.replace('humanoid3d_', ''),
                'start': start, 'length': int(len(world)), 'clip': name,
                'stature_m': stature, 'calibration': 'new-body cameras'})
            start += len(world)
    return sequences, positions, views, gt_2d


def prepare_demo(out: Optional[Path] = None, noise_px: float = 2.0,
                 seed: int = 0) -> PreparedPoses:
    """Build the demo file from the installed motion-capture package."""
    out = Path(out) if out else default_path()
    clips = demo_source.load_clips()
    test_names = set(demo_source.TEST_CLIPS)
    cameras = load_h36m_cameras()
    rng = np.random.default_rng(seed)

    sequences: List[Dict] = []
    positions, views, gt_2d = [], [], []
    start = 0
    for clip, calib in zip(clips, _calibrations(clips, test_names)):
        world = place_in_capture_volume(clip['positions'])
        positions.append(world.astype(np.float32))
        views.append(cameras[calib])
        gt_2d.append(_film(world, cameras[calib]).astype(np.float32))
        is_test = clip['name'] in test_names
        sequences.append({'subject': 'test' if is_test else 'train',
                          'action': clip['action'], 'start': start,
                          'length': int(len(world)), 'clip': clip['name'],
                          'calibration': calib})
        start += len(world)
    extra = _new_body_parts(demo_source, test_names, start)
    for part, more in zip((sequences, positions, views, gt_2d), extra):
        part.extend(more)
    provenance = _provenance(demo_source.source_info(), sequences,
                             test_names, noise_px, seed)
    provenance['new_body'] = _new_body_provenance()
    meta = make_meta('demo', 50.0, sequences, ['train'], ['test'],
                     ['gt', 'noisy'], provenance)
    meta['extra_test_splits'] = {
        NEW_BODY_SPLIT: sorted({s['subject'] for s in extra[0]})}
    data = assemble_prepared(meta, positions, views, {'gt': gt_2d})
    data.keypoints_2d['noisy'] = detector_noise(
        data.keypoints_2d['gt'], noise_px, rng).astype(np.float32)
    save_prepared(out, data)
    n_test = sum(s['length'] for s in sequences if s['subject'] == 'test')
    n_new = sum(s['length'] for s in extra[0])
    print(f"Prepared the demo set {out}: {len(clips)} real mocap clips "
          f"({len(data.positions_3d) - n_new:,} frames at 50 fps, {n_test:,} "
          f"of them held out for testing) from {provenance.get('package')} "
          f"{provenance.get('version')}, and the test clips replayed by "
          f"{len(extra[0]) // max(len(test_names), 1)} new bodies before new "
          f"cameras ({n_new:,} frames)", flush=True)
    return data


def ensure_demo(path: Optional[Path] = None) -> Path:
    """Path of the prepared demo set, preparing it on first use."""
    path = Path(path) if path else default_path()
    if path.exists():
        try:
            found = load_prepared(path).meta['provenance'].get(
                'demo_version')
            if found == DEMO_VERSION:
                return path
            print(f'Rebuilding the demo set {path}: it was built by an '
                  f'older version (demo_version {found}, now '
                  f'{DEMO_VERSION})', flush=True)
        except ValueError as err:
            print(f'Rebuilding the demo set: {err}', flush=True)
    prepare_demo(path)
    return path

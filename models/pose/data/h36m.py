"""``prepare-h36m``: Human3.6M from the VideoPose3D files into our format.

Inputs are the files most lifting projects start from: ``data_3d_h36m.npz``
(``positions_3d``: subject -> action -> ``[F, 32, 3]`` world metres) and any
number of ``data_2d_h36m_<source>.npz`` (``positions_2d``: subject -> action
-> 4 arrays ``[F, 17, 2]`` in pixels, in the calibration's camera order).
Both hold pickled dicts: this explicit step is the only place that unpickles,
and it warns that the files must come from a trusted source.
"""
import argparse
import pickle
import re
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from models.pose.camera import load_h36m_cameras
from models.pose.data.format import PreparedPoses, make_meta, save_prepared
from models.pose.skeleton import H36M_32_TO_17

TRAIN_SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8')
TEST_SUBJECTS = ('S9', 'S11')


def _load_pickled_dict(path: Path, key: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    warnings.warn(f"reading {path} with allow_pickle=True: VideoPose3D files "
                  f"hold pickled objects; only use files from a trusted "
                  f"source", stacklevel=3)
    try:
        with np.load(path, allow_pickle=True) as npz:
            if key not in npz.files:
                raise ValueError(f"{path} lacks the key {key!r} (keys: "
                                 f"{npz.files}); expected a VideoPose3D file")
            value = npz[key].item()
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path} is not a readable npz file "
                         f"({str(err).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {key!r} is not a subject -> action dict")
    return value


def source_name(path: Path) -> str:
    """``data_2d_h36m_cpn_ft_h36m_dbb.npz`` -> ``cpn_ft_h36m_dbb``."""
    match = re.match(r'data_2d_h36m_(.+)\.npz$', path.name)
    return match.group(1) if match else path.stem


def prepare_h36m(path_3d: Path, paths_2d: Sequence[Path], out: Path,
                 cameras_json: Optional[Path] = None) -> PreparedPoses:
    """Convert and write ``out``; returns the prepared data."""
    positions = _load_pickled_dict(Path(path_3d), 'positions_3d')
    sources: Dict[str, dict] = {
        source_name(Path(p)): _load_pickled_dict(Path(p), 'positions_2d')
        for p in paths_2d}
    if not sources:
        raise ValueError('give at least one data_2d_h36m_<source>.npz file')
    cameras = load_h36m_cameras(cameras_json)

    sequences: List[dict] = []
    pos_chunks, kp_chunks = [], {s: [] for s in sources}
    cam_R, cam_t, cam_k, cam_res = [], [], [], []
    trimmed = 0
    start = 0
    for subject in sorted(positions, key=lambda s: int(s[1:])):
        if subject not in cameras:
            warnings.warn(f"{subject}: no calibration, skipped",
                          stacklevel=2)
            continue
        for action in sorted(positions[subject]):
            pos = np.asarray(positions[subject][action], np.float32)
            if pos.ndim != 3 or pos.shape[1:] != (32, 3):
                raise ValueError(f"{path_3d}: {subject}/{action} has shape "
                                 f"{list(pos.shape)}, expected [frames, 32, "
                                 f"3]")
            length = len(pos)
            per_source = {}
            for name, kp in sources.items():
                try:
                    cams = kp[subject][action]
                except KeyError:
                    raise ValueError(f"2D source {name!r} lacks "
                                     f"{subject}/{action}") from None
                if len(cams) != len(cameras[subject]):
                    raise ValueError(f"2D source {name!r}: {subject}/"
                                     f"{action} has {len(cams)} cameras, "
                                     f"expected {len(cameras[subject])}")
                arrays = [np.asarray(c, np.float32) for c in cams]
                for a in arrays:
                    if a.ndim != 3 or a.shape[1:] != (17, 2):
                        raise ValueError(
                            f"2D source {name!r}: {subject}/{action} has "
                            f"shape {list(a.shape)}, expected [frames, 17, 2]")
                length = min([length] + [len(a) for a in arrays])
                per_source[name] = arrays
            trimmed += len(pos) - length
            pos_chunks.append(pos[:length, list(H36M_32_TO_17)])
            for name, arrays in per_source.items():
                kp_chunks[name].append(np.stack([a[:length] for a in arrays]))
            cams = cameras[subject]
            cam_R.append(np.stack([c.R for c in cams]))
            cam_t.append(np.stack([c.t for c in cams]))
            cam_k.append(np.stack([c.intrinsics for c in cams]))
            cam_res.append(np.stack([c.resolution for c in cams]))
            sequences.append({'subject': subject, 'action': action,
                              'start': start, 'length': int(length)})
            start += length
    if not sequences:
        raise ValueError(f"{path_3d}: no sequence with a known calibration")
    if trimmed:
        print(f'Trimmed {trimmed} frames where 3D and 2D lengths differ '
              f'(the detections are sometimes a few frames shorter)')
    subjects = {s['subject'] for s in sequences}
    data = PreparedPoses(
        meta=make_meta(
            'h36m', 50.0, sequences,
            [s for s in TRAIN_SUBJECTS if s in subjects],
            [s for s in TEST_SUBJECTS if s in subjects], sorted(sources),
            {'files': [str(path_3d)] + [str(p) for p in paths_2d]}),
        positions_3d=np.concatenate(pos_chunks),
        camera_R=np.stack(cam_R).astype(np.float32),
        camera_t=np.stack(cam_t).astype(np.float32),
        camera_intrinsics=np.stack(cam_k).astype(np.float32),
        camera_resolution=np.stack(cam_res).astype(np.int32),
        keypoints_2d={n: np.concatenate(c, axis=1) for n, c in
                      kp_chunks.items()})
    save_prepared(out, data)
    print(f'Wrote {out}: {len(sequences)} sequences, '
          f'{len(data.positions_3d):,} frames, 2D sources {sorted(sources)}')
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data-3d', type=Path, required=True,
                        help='data_3d_h36m.npz (VideoPose3D)')
    parser.add_argument('--data-2d', type=Path, nargs='+', required=True,
                        help='one or more data_2d_h36m_<source>.npz')
    parser.add_argument('--out', type=Path,
                        default=Path('data/prepared/h36m.npz'))
    parser.add_argument('--cameras', type=Path, default=None,
                        help='h36m_cameras.json (default: '
                        '$PYG_WJ_H36M_CAMERAS, else the calibration '
                        'shipped in models/pose/calibration)')


def run(args: argparse.Namespace) -> None:
    prepare_h36m(args.data_3d, args.data_2d, args.out, args.cameras)

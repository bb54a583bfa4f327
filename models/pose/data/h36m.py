"""Human3.6M from the VideoPose3D files into our format (the command line
is :mod:`models.pose.cli.prepare_h36m`, ``prepare-h36m``).

Inputs are the files most lifting projects start from: ``data_3d_h36m.npz``
(``positions_3d``: subject -> action -> ``[F, 32, 3]`` world metres) and any
number of ``data_2d_h36m_<source>.npz`` (``positions_2d``: subject -> action
-> 4 arrays ``[F, 17, 2]`` in pixels, in the calibration's camera order).
Both hold pickled dicts: this explicit step is the only place that unpickles,
and it warns that the files must come from a trusted source.
"""
import pickle
import re
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from models.pose.data.camera import Camera, load_h36m_cameras
from models.pose.data.format import (
    PreparedPoses,
    assemble_prepared,
    make_meta,
    save_prepared,
)
from models.pose.data.skeleton import H36M_32_TO_17

#: The Human3.6M protocol split (also the calibrations the demo set's
#: training and test clips are filmed with).
TRAIN_SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8')
TEST_SUBJECTS = ('S9', 'S11')


#: What each VideoPose3D key is, for errors naming the wrong file.
_EXPECTED = {'positions_3d': "VideoPose3D's data_3d_h36m.npz (a pickled "
                             "dict subject -> action -> [F, 32, 3])",
             'positions_2d': "a VideoPose3D data_2d_h36m_<source>.npz (a "
                             "pickled dict subject -> action -> cameras)"}

#: Said when the file has a prepared file's 'meta' key.
_PREPARED_HINT = (" It looks like a prepared file (it has the 'meta' key "
                  "that prepare-h36m, prepare-3dhp and prepare-demo write): "
                  "it needs no converting; give it to train or evaluate as "
                  "--data.")


def _check_file(path: Path, what: str, key: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist; expected "
                                f"{_EXPECTED[key]}")
    if not path.is_file():  # a directory, a device, a FIFO that would block
        raise ValueError(f"{what} {path} is not a regular file; expected "
                         f"{_EXPECTED[key]}")


def _pickled_value(npz, path: Path, key: str, what: str) -> dict:
    """``npz[key]`` as the pickled dict a VideoPose3D file holds; any other
    array (a prepared file's ``positions_3d``) is named, not unpacked."""
    if key not in npz.files:
        hint = _PREPARED_HINT if 'meta' in npz.files else ''
        raise ValueError(f"{what} {path} lacks the key {key!r} (keys: "
                         f"{npz.files}); expected {_EXPECTED[key]}.{hint}")
    value = npz[key]
    if value.dtype != object or value.shape != ():
        hint = _PREPARED_HINT if 'meta' in npz.files else ''
        raise ValueError(f"{what} {path}: {key!r} is a {value.dtype} array "
                         f"of shape {list(value.shape)}, not a pickled "
                         f"dict; expected {_EXPECTED[key]}.{hint}")
    return value.item()


def _load_pickled_dict(path: Path, key: str, what: str = 'file') -> dict:
    _check_file(path, what, key)
    warnings.warn(f"reading {path} with allow_pickle=True: VideoPose3D files "
                  f"hold pickled objects; only use files from a trusted "
                  f"source", stacklevel=3)
    try:
        with np.load(path, allow_pickle=True) as npz:
            value = _pickled_value(npz, path, key, what)
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


def _source_views(name: str, source: dict, subject: str, action: str,
                  num_cameras: int) -> List[np.ndarray]:
    """One action's ``[frames, 17, 2]`` keypoints per camera in a 2D
    source."""
    try:
        views = source[subject][action]
    except KeyError:
        raise ValueError(f"2D source {name!r} lacks "
                         f"{subject}/{action}") from None
    if len(views) != num_cameras:
        raise ValueError(f"2D source {name!r}: {subject}/"
                         f"{action} has {len(views)} cameras, "
                         f"expected {num_cameras}")
    arrays = [np.asarray(v, np.float32) for v in views]
    for a in arrays:
        if a.ndim != 3 or a.shape[1:] != (17, 2):
            raise ValueError(
                f"2D source {name!r}: {subject}/{action} has "
                f"shape {list(a.shape)}, expected [frames, 17, 2]")
    return arrays


def _read_sequence(path_3d: Path, positions: dict, sources: Dict[str, dict],
                   subject: str, action: str, num_cameras: int
                   ) -> Tuple[np.ndarray, Dict[str, np.ndarray], int]:
    """One action: its 17 joints ``[F, 17, 3]``, its keypoints per source
    ``[C, F, 17, 2]`` (all cut to the shortest of 3D and 2D) and how many
    3D frames the cut dropped."""
    pos = np.asarray(positions[subject][action], np.float32)
    if pos.ndim != 3 or pos.shape[1:] != (32, 3):
        raise ValueError(f"{path_3d}: {subject}/{action} has shape "
                         f"{list(pos.shape)}, expected [frames, 32, "
                         f"3]")
    length = len(pos)
    per_source = {}
    for name, source in sources.items():
        arrays = _source_views(name, source, subject, action, num_cameras)
        length = min([length] + [len(a) for a in arrays])
        per_source[name] = arrays
    keypoints = {name: np.stack([a[:length] for a in arrays])
                 for name, arrays in per_source.items()}
    return pos[:length, list(H36M_32_TO_17)], keypoints, len(pos) - length


def _convert_sequences(path_3d: Path, positions: dict,
                       sources: Dict[str, dict],
                       cameras: Dict[str, List[Camera]]):
    """Every action of every calibrated subject, in subject then action
    order: ``(sequences, positions, cameras, keypoints)`` as
    :func:`~models.pose.data.format.assemble_prepared` takes them."""
    sequences: List[dict] = []
    pos_parts, cam_parts = [], []
    kp_parts: Dict[str, List[np.ndarray]] = {name: [] for name in sources}
    trimmed = 0
    start = 0
    for subject in sorted(positions, key=lambda s: int(s[1:])):
        if subject not in cameras:
            warnings.warn(f"{subject}: no calibration, skipped",
                          stacklevel=3)
            continue
        for action in sorted(positions[subject]):
            pos, keypoints, dropped = _read_sequence(
                path_3d, positions, sources, subject, action,
                len(cameras[subject]))
            trimmed += dropped
            pos_parts.append(pos)
            cam_parts.append(cameras[subject])
            for name, kp in keypoints.items():
                kp_parts[name].append(kp)
            sequences.append({'subject': subject, 'action': action,
                              'start': start, 'length': len(pos)})
            start += len(pos)
    if trimmed:
        print(f'Trimmed {trimmed} frames where 3D and 2D lengths differ '
              f'(the detections are sometimes a few frames shorter)')
    return sequences, pos_parts, cam_parts, kp_parts


def prepare_h36m(path_3d: Path, paths_2d: Sequence[Path], out: Path,
                 cameras_json: Optional[Path] = None) -> PreparedPoses:
    """Convert and write ``out``; returns the prepared data."""
    positions = _load_pickled_dict(Path(path_3d), 'positions_3d',
                                   '--data-3d')
    sources: Dict[str, dict] = {
        source_name(Path(p)): _load_pickled_dict(Path(p), 'positions_2d',
                                                 '--data-2d')
        for p in paths_2d}
    if not sources:
        raise ValueError('give at least one data_2d_h36m_<source>.npz file')
    cameras = load_h36m_cameras(cameras_json)
    sequences, pos_parts, cam_parts, kp_parts = _convert_sequences(
        path_3d, positions, sources, cameras)
    if not sequences:
        raise ValueError(f"{path_3d}: no sequence with a known calibration")
    subjects = {s['subject'] for s in sequences}
    meta = make_meta(
        'h36m', 50.0, sequences,
        [s for s in TRAIN_SUBJECTS if s in subjects],
        [s for s in TEST_SUBJECTS if s in subjects], sorted(sources),
        {'files': [str(path_3d)] + [str(p) for p in paths_2d]})
    data = assemble_prepared(meta, pos_parts, cam_parts, kp_parts)
    save_prepared(out, data)
    print(f'Wrote {out}: {len(sequences)} sequences, '
          f'{len(data.positions_3d):,} frames, 2D sources {sorted(sources)}')
    return data

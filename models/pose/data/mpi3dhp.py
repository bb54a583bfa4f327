"""The MPI-INF-3DHP test set as used by lifting papers (the command line is
:mod:`models.pose.cli.prepare_3dhp`, ``prepare-3dhp``).

Input: an ``.npz`` with ``pose2d`` ``[F, 17, 2]`` (pixels) and ``pose3d``
``[F, 17, 3]`` (millimetres, camera frame), both in the Human3.6M 17-joint
order (the PoseAug preparation, 2,929 frames). Optional keys: ``seq``
(``[F]`` sequence names such as ``TS1``) and ``image_size`` (``[2]``).
TS1-TS4 were filmed at 2048 x 2048, TS5-TS6 at 1920 x 1080. The 3D data
exist only in the camera frame, so the camera is stored as ``R = I``,
``t = 0``; intrinsics are not used (the 2D keypoints are given).
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from models.common.npz import load_npz_checked
from models.pose.data.camera import Camera
from models.pose.data.format import (
    PreparedPoses,
    assemble_prepared,
    make_meta,
    save_prepared,
)

SIZES = {'TS1': (2048, 2048), 'TS2': (2048, 2048), 'TS3': (2048, 2048),
         'TS4': (2048, 2048), 'TS5': (1920, 1080), 'TS6': (1920, 1080)}


def _read_test_npz(path: Path) -> Dict[str, np.ndarray]:
    """The arrays of the test npz, ``pose2d`` and ``pose3d`` checked."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    # every npy header checked before allocating: a damaged file is one
    # error naming it and the array, not an EOF or a memory error
    arrays = load_npz_checked(path, what='--data')
    for key in ('pose2d', 'pose3d'):
        if key not in arrays:
            raise ValueError(f"{path} lacks the key {key!r} (keys: "
                             f"{sorted(arrays)}); expected the 3DHP test npz")
    p2, p3 = arrays['pose2d'], arrays['pose3d']
    if p2.ndim != 3 or p2.shape[1:] != (17, 2):
        raise ValueError(f"{path}: 'pose2d' has shape {list(p2.shape)}, "
                         f"expected [frames, 17, 2]")
    if p3.shape != (len(p2), 17, 3):
        raise ValueError(f"{path}: 'pose3d' has shape {list(p3.shape)}, "
                         f"expected [{len(p2)}, 17, 3]")
    return arrays


def _image_size(path: Path, name: str, arrays: Dict[str, np.ndarray],
                image_size: Optional[Sequence[int]]) -> Tuple[int, int]:
    """A sequence's image size: given, stored in the file, or known."""
    if image_size is not None:
        return tuple(image_size)
    if 'image_size' in arrays:
        return tuple(int(v) for v in arrays['image_size'])
    if name in SIZES:
        return SIZES[name]
    raise ValueError(f"{path}: no image size for sequence {name!r}; "
                     f"pass --image-size W H")


def _image_frame_camera(name: str, size: Tuple[int, int]) -> Camera:
    """The camera of data that exist only in the camera frame: ``R = I``,
    ``t = 0`` and placeholder intrinsics (never used: the 2D keypoints are
    given)."""
    w, h = size
    return Camera(id=name, R=np.eye(3), t=np.zeros(3),
                  intrinsics=np.array([w, w, w / 2, h / 2, 0, 0, 0, 0, 0]),
                  resolution=np.array([w, h]))


def prepare_3dhp(path: Path, out: Path,
                 image_size: Optional[Sequence[int]] = None
                 ) -> PreparedPoses:
    path = Path(path)
    arrays = _read_test_npz(path)
    p2, p3 = arrays['pose2d'], arrays['pose3d']
    seq = arrays.get('seq')
    names = ([str(s) for s in seq] if seq is not None else ['TS'] * len(p2))
    # contiguous runs of the same sequence name become sequences
    cuts = [0] + [i for i in range(1, len(names)) if names[i] != names[i - 1]]
    cuts.append(len(names))
    spans = list(zip(cuts[:-1], cuts[1:]))
    sequences, cameras = [], []
    for a, b in spans:
        name = names[a]
        size = _image_size(path, name, arrays, image_size)
        sequences.append({'subject': name, 'action': name, 'start': a,
                          'length': b - a})
        cameras.append([_image_frame_camera(name, size)])
    subjects = sorted({s['subject'] for s in sequences})
    positions = p3 / 1000.0
    data = assemble_prepared(
        make_meta('3dhp', 50.0, sequences, [], subjects, ['gt'],
                  {'files': [str(path)]}),
        [positions[a:b] for a, b in spans], cameras,
        {'gt': [p2[None, a:b] for a, b in spans]})
    save_prepared(out, data)
    print(f'Wrote {out}: {len(sequences)} sequences, {len(p2):,} frames')
    return data

"""The project's one on-disk format for prepared pose data.

A prepared file is an ``.npz`` that loads with ``allow_pickle=False``. Its
keys (``S`` sequences, ``C`` cameras, ``F`` frames over all sequences):

``meta``
    0-d string: JSON with ``format`` ("pyg-wj-pose"), ``version`` (1),
    ``dataset``, ``fps``, ``units`` ("metres"), ``joints`` (17),
    ``joint_names``, ``sources_2d``, ``sequences`` (a list of
    ``{"subject", "action", "start", "length"}`` in storage order),
    ``train_subjects``, ``test_subjects`` and ``provenance`` (where the data
    came from: input files, or package, version, licence and clips).
    Optional: ``extra_test_splits``, split name -> its subjects (further
    test sets, e.g. the demo's ``new-body``; disjoint from the training
    and test subjects and from each other).
``positions_3d``
    float32 ``[F, 17, 3]``: world coordinates in metres, Human3.6M joint
    order, sequences concatenated.
``camera_R``, ``camera_t``
    float32 ``[S, C, 3, 3]`` world -> camera rotations and ``[S, C, 3]``
    camera centres in world metres. Data that only exists in the camera
    frame (MPI-INF-3DHP) stores ``R = I`` and ``t = 0``.
``camera_intrinsics``
    float32 ``[S, C, 9]``: fx, fy, cx, cy, k1, k2, k3, p1, p2.
``camera_resolution``
    int32 ``[S, C, 2]``: image width and height in pixels.
``keypoints_2d__<source>``
    float32 ``[C, F, 17, 2]``: 2D keypoints in pixels per camera, one key
    per 2D source (``gt``, ``cpn_ft_h36m_dbb``, ``noisy`` ...).
"""
import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from models.common.files import save_npz_atomic
from models.common.npz import load_npz_checked
from models.pose.data.camera import Camera
from models.pose.data.skeleton import JOINT_NAMES_17

FORMAT = 'pyg-wj-pose'
VERSION = 1
KEYPOINT_PREFIX = 'keypoints_2d__'
NUM_JOINTS = 17


@dataclass
class PreparedPoses:
    """A prepared data set in memory (see the module docstring)."""
    meta: Dict[str, Any]
    positions_3d: np.ndarray
    camera_R: np.ndarray
    camera_t: np.ndarray
    camera_intrinsics: np.ndarray
    camera_resolution: np.ndarray
    keypoints_2d: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def sequences(self) -> List[Dict[str, Any]]:
        return self.meta['sequences']

    @property
    def train_subjects(self) -> List[str]:
        return list(self.meta['train_subjects'])

    @property
    def test_subjects(self) -> List[str]:
        return list(self.meta['test_subjects'])

    @property
    def extra_test_splits(self) -> Dict[str, List[str]]:
        """Split name -> subjects of the further test sets (none in
        files without ``extra_test_splits``)."""
        return {name: list(subjects) for name, subjects in
                self.meta.get('extra_test_splits', {}).items()}

    @property
    def num_cameras(self) -> int:
        return self.camera_R.shape[1]


def make_meta(dataset: str, fps: float, sequences: List[Dict[str, Any]],
              train_subjects, test_subjects, sources,
              provenance: Dict[str, Any]) -> Dict[str, Any]:
    return {'format': FORMAT, 'version': VERSION, 'dataset': dataset,
            'fps': float(fps), 'units': 'metres', 'joints': NUM_JOINTS,
            'joint_names': list(JOINT_NAMES_17), 'sources_2d': list(sources),
            'sequences': sequences, 'train_subjects': list(train_subjects),
            'test_subjects': list(test_subjects), 'provenance': provenance}


def assemble_prepared(meta: Dict[str, Any],
                      positions: Sequence[np.ndarray],
                      cameras: Sequence[Sequence[Camera]],
                      keypoints_2d: Dict[str, Sequence[np.ndarray]]
                      ) -> PreparedPoses:
    """A data set from its sequences' parts, given in storage order.

    Args:
        meta: from :func:`make_meta`; its ``sequences`` describe the parts.
        positions: per sequence, ``[F_i, 17, 3]`` world metres.
        cameras: per sequence, the ``C`` cameras that filmed it.
        keypoints_2d: 2D source -> per sequence, ``[C, F_i, 17, 2]``
            pixels.

    Arrays come out in the stored dtypes (float32, resolution int32); the
    result is not validated (:func:`save_prepared` does that).
    """
    def stacked(attribute: str, dtype) -> np.ndarray:
        return np.stack([np.stack([getattr(cam, attribute) for cam in cams])
                         for cams in cameras]).astype(dtype)

    return PreparedPoses(
        meta=meta,
        positions_3d=np.concatenate(positions).astype(np.float32),
        camera_R=stacked('R', np.float32),
        camera_t=stacked('t', np.float32),
        camera_intrinsics=stacked('intrinsics', np.float32),
        camera_resolution=stacked('resolution', np.int32),
        keypoints_2d={source: np.concatenate(parts, axis=1).astype(np.float32)
                      for source, parts in keypoints_2d.items()})


def _fail(path, message: str):
    raise ValueError(f"{path}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_meta(meta: Any, path) -> None:
    """The types of every field the code reads, and disjoint splits."""
    _check_meta_header(meta, path)
    _check_meta_types(meta, path)
    _check_meta_sequences(meta['sequences'], path)
    _check_meta_splits(meta, path)
    _check_extra_splits(meta, path)


def _check_meta_header(meta: Any, path) -> None:
    """A JSON object with the required keys, of this format and version."""
    if not isinstance(meta, dict):
        _fail(path, f"key 'meta' must be a JSON object, got a "
              f"{type(meta).__name__}")
    for key in ('format', 'version', 'sequences', 'train_subjects',
                'test_subjects', 'sources_2d', 'fps'):
        if key not in meta:
            _fail(path, f"meta lacks the key {key!r}")
    if meta['format'] != FORMAT:
        _fail(path, f"meta format is {meta['format']!r}, expected {FORMAT!r}")
    if meta['version'] != VERSION:
        _fail(path, f"format version {meta['version']}, expected {VERSION}")


def _check_meta_types(meta: Dict[str, Any], path) -> None:
    """The frame rate, the name lists and the optional descriptive keys."""
    fps = meta['fps']
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or \
            not (math.isfinite(fps) and fps > 0):
        _fail(path, f"meta 'fps' must be a positive number, got {fps!r}")
    for key in ('train_subjects', 'test_subjects', 'sources_2d'):
        if not _is_str_list(meta[key]):
            _fail(path, (f"meta {key!r} must be a list of strings, got "
                         f"{meta[key]!r}")[:300])
    for key, kind in (('joint_names', list), ('provenance', dict),
                      ('dataset', str), ('units', str)):
        if key in meta and not isinstance(meta[key], kind):
            _fail(path, f"meta {key!r} must be a {kind.__name__}, got a "
                  f"{type(meta[key]).__name__}")
    if 'joints' in meta and meta['joints'] != NUM_JOINTS:
        _fail(path, f"meta 'joints' is {meta['joints']!r}, expected "
              f"{NUM_JOINTS}")


#: What every entry of meta 'sequences' holds: (key, test, description).
_SEQUENCE_FIELDS = (
    ('subject', lambda v: isinstance(v, str), 'a string'),
    ('action', lambda v: isinstance(v, str), 'a string'),
    ('start', lambda v: _is_int(v) and v >= 0, 'an integer >= 0'),
    ('length', lambda v: _is_int(v) and v >= 1, 'an integer >= 1'))


def _check_meta_sequences(seqs: Any, path) -> None:
    """A non-empty list of ``{subject, action, start, length}`` objects."""
    if not isinstance(seqs, list):
        _fail(path, f"meta 'sequences' must be a list, got a "
              f"{type(seqs).__name__}")
    if not seqs:
        _fail(path, 'holds no sequences')
    for i, seq in enumerate(seqs):
        if not isinstance(seq, dict):
            _fail(path, (f"meta sequence {i} must be an object with "
                         f"subject, action, start and length, got "
                         f"{seq!r}")[:300])
        for key, check, want in _SEQUENCE_FIELDS:
            if key not in seq:
                _fail(path, f"meta sequence {i} lacks {key!r}")
            if not check(seq[key]):
                _fail(path, (f"meta sequence {i}: {key!r} must be {want}, "
                             f"got {seq[key]!r}")[:300])


def _check_meta_splits(meta: Dict[str, Any], path) -> None:
    """Train and test subjects are disjoint and each names a sequence."""
    both = sorted(set(meta['train_subjects']) & set(meta['test_subjects']))
    if both:
        _fail(path, f"subjects {both} are both training and test subjects "
              f"(train_subjects {meta['train_subjects']}, test_subjects "
              f"{meta['test_subjects']}): evaluating on training data would "
              f"report a meaningless error; the two splits must be disjoint")
    present = {seq['subject'] for seq in meta['sequences']}
    for key in ('train_subjects', 'test_subjects'):
        absent = [s for s in meta[key] if s not in present]
        if absent:
            _fail(path, f"meta {key!r} names {absent}, which no sequence "
                  f"has (subjects present: {sorted(present)})")


def _check_extra_splits(meta: Dict[str, Any], path) -> None:
    """Optional ``extra_test_splits``: name -> non-empty list of subjects
    that sequences have, in no other split."""
    extra = meta.get('extra_test_splits', {})
    if not isinstance(extra, dict) or not all(
            isinstance(k, str) and _is_str_list(v) and v
            for k, v in extra.items()):
        _fail(path, (f"meta 'extra_test_splits' must be an object of split "
                     f"name -> non-empty list of subjects, got "
                     f"{extra!r}")[:300])
    present = {seq['subject'] for seq in meta['sequences']}
    seen = {s: 'train_subjects' for s in meta['train_subjects']}
    seen.update({s: 'test_subjects' for s in meta['test_subjects']})
    for name, subjects in extra.items():
        for subject in subjects:
            if subject in seen:
                _fail(path, f"meta 'extra_test_splits' {name!r} names "
                      f"{subject!r}, which is already in {seen[subject]}; "
                      f"every split must have subjects of its own")
            if subject not in present:
                _fail(path, f"meta 'extra_test_splits' {name!r} names "
                      f"{subject!r}, which no sequence has (subjects "
                      f"present: {sorted(present)})")
            seen[subject] = f'extra test split {name!r}'


def _check_cameras(data: 'PreparedPoses', path) -> None:
    """Rotations orthonormal (R R^T = I, det +1), focal lengths and image
    sizes positive; run after the shapes and dtypes are known good."""
    R = data.camera_R.astype(np.float64)
    gram = R @ np.swapaxes(R, -1, -2)
    err = np.abs(gram - np.eye(3)).max(axis=(-2, -1))
    det = np.linalg.det(R)
    bad = np.argwhere((err > 1e-3) | (np.abs(det - 1) > 1e-3))
    if len(bad):
        s, c = bad[0].tolist()
        _fail(path, f"key 'camera_R' [{s}, {c}] is not a rotation (|R R^T - "
              f"I| = {err[s, c]:.3g}, det {det[s, c]:.3g}; expected an "
              f"orthonormal matrix with det +1)")
    res = data.camera_resolution
    if (res <= 0).any():
        s, c, _ = np.argwhere(res <= 0)[0].tolist()
        _fail(path, f"key 'camera_resolution' [{s}, {c}] is "
              f"{res[s, c].tolist()}, expected a positive width and height "
              f"in pixels")
    focal = data.camera_intrinsics[..., :2]
    if (focal <= 0).any():
        s, c, _ = np.argwhere(focal <= 0)[0].tolist()
        _fail(path, f"key 'camera_intrinsics' [{s}, {c}] has focal lengths "
              f"{focal[s, c].tolist()}, expected positive fx and fy")


def validate(data: PreparedPoses, path: Union[str, Path] = '<memory>'
             ) -> None:
    """Check shapes, dtypes, finiteness, camera geometry and the metadata's
    types and consistency (disjoint train and test subjects)."""
    meta = data.meta
    _check_meta(meta, path)
    seqs = meta['sequences']
    total = sum(int(s['length']) for s in seqs)
    starts = np.cumsum([0] + [int(s['length']) for s in seqs[:-1]])
    if any(int(s['start']) != int(st) for s, st in zip(seqs, starts)):
        _fail(path, "sequence 'start' offsets are not contiguous")
    n_seq = len(seqs)

    def check(name, arr, shape, kind='f'):
        if arr.dtype.kind != kind:
            _fail(path, f"key {name!r} has dtype {arr.dtype}, expected "
                  f"{'float32' if kind == 'f' else 'int32'}")
        if arr.shape != shape:
            _fail(path, f"key {name!r} has shape {list(arr.shape)}, expected "
                  f"{list(shape)}")
        if kind == 'f' and not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0].tolist()
            _fail(path, f"key {name!r} holds NaN or inf (first at index "
                  f"{bad})")

    check('positions_3d', data.positions_3d, (total, NUM_JOINTS, 3))
    cams = data.camera_R.shape[1] if data.camera_R.ndim == 4 else -1
    check('camera_R', data.camera_R, (n_seq, max(cams, 1), 3, 3))
    check('camera_t', data.camera_t, (n_seq, cams, 3))
    check('camera_intrinsics', data.camera_intrinsics, (n_seq, cams, 9))
    check('camera_resolution', data.camera_resolution, (n_seq, cams, 2), 'i')
    if sorted(data.keypoints_2d) != sorted(meta['sources_2d']):
        _fail(path, f"2D sources {sorted(data.keypoints_2d)} do not match "
              f"meta sources_2d {sorted(meta['sources_2d'])}")
    for source, kp in data.keypoints_2d.items():
        check(KEYPOINT_PREFIX + source, kp, (cams, total, NUM_JOINTS, 2))
    _check_cameras(data, path)


def save_prepared(path: Union[str, Path], data: PreparedPoses) -> Path:
    """Validate, then write atomically (an existing good file survives any
    failure)."""
    validate(data, path)
    arrays = {
        'meta': np.array(json.dumps(data.meta)),
        'positions_3d': data.positions_3d.astype(np.float32),
        'camera_R': data.camera_R.astype(np.float32),
        'camera_t': data.camera_t.astype(np.float32),
        'camera_intrinsics': data.camera_intrinsics.astype(np.float32),
        'camera_resolution': data.camera_resolution.astype(np.int32),
    }
    for source, kp in data.keypoints_2d.items():
        arrays[KEYPOINT_PREFIX + source] = kp.astype(np.float32)
    return save_npz_atomic(path, **arrays)


def _read_arrays(path: Path) -> Dict[str, np.ndarray]:
    """The arrays of a prepared file, every npy header checked against
    the file's sizes before anything is allocated (a header claiming more
    than the file holds is an error naming the file and the array, not an
    ``EOF`` or a memory error)."""
    try:
        return load_npz_checked(path, what='prepared data file')
    except ValueError as err:
        if 'Python objects' in str(err):
            _fail(path, "holds pickled objects, which are refused (a "
                  "prepared file contains plain arrays only)")
        raise


def load_prepared(path: Union[str, Path]) -> PreparedPoses:
    """Load and validate a prepared file; never unpickles."""
    path = Path(path)
    if path.is_dir():
        _fail(path, "is a directory; expected a prepared .npz file")
    if not path.is_file():
        raise FileNotFoundError(f"prepared data file {path} does not exist "
                                f"(create it with python -m models.pose "
                                f"prepare-h36m / prepare-3dhp / prepare-demo)")
    if not zipfile.is_zipfile(path):
        _fail(path, "is not a readable pyg-wj prepared file (not an npz "
              "archive: truncated, or another kind of file)")
    arrays = _read_arrays(path)
    required = ('meta', 'positions_3d', 'camera_R', 'camera_t',
                'camera_intrinsics', 'camera_resolution')
    for key in required:
        if key not in arrays:
            _fail(path, f"lacks the key {key!r} (keys present: "
                  f"{sorted(arrays)})")
    if arrays['meta'].ndim != 0 or arrays['meta'].dtype.kind != 'U':
        _fail(path, f"key 'meta' must be a 0-d string array, got dtype "
              f"{arrays['meta'].dtype} shape {list(arrays['meta'].shape)}")
    try:
        meta = json.loads(str(arrays['meta']))
    except json.JSONDecodeError as err:
        _fail(path, f"key 'meta' is not valid JSON ({err})")
    except RecursionError:
        _fail(path, "key 'meta' is JSON nested too deeply to read")
    data = PreparedPoses(
        meta=meta, positions_3d=arrays['positions_3d'],
        camera_R=arrays['camera_R'], camera_t=arrays['camera_t'],
        camera_intrinsics=arrays['camera_intrinsics'],
        camera_resolution=arrays['camera_resolution'],
        keypoints_2d={k[len(KEYPOINT_PREFIX):]: v for k, v in arrays.items()
                      if k.startswith(KEYPOINT_PREFIX)})
    validate(data, path)
    return data


def fingerprint(data: PreparedPoses) -> str:
    """SHA-256 (hex) of a data set's content: its metadata and every array
    (name, dtype, shape, bytes). It names the data a run was trained on
    (stored in its checkpoints; ``--resume`` compares it) and, unlike a
    hash of the file, does not change when the same data are prepared
    again (zip archives store time stamps)."""
    h = hashlib.sha256(json.dumps(data.meta, sort_keys=True).encode())
    arrays = {'positions_3d': data.positions_3d, 'camera_R': data.camera_R,
              'camera_t': data.camera_t,
              'camera_intrinsics': data.camera_intrinsics,
              'camera_resolution': data.camera_resolution,
              **{KEYPOINT_PREFIX + k: v for k, v in data.keypoints_2d.items()}}
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f'|{name}|{a.dtype.str}|{a.shape}|'.encode())
        h.update(a.tobytes())
    return h.hexdigest()

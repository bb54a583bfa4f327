"""3D poses from a file of 2D keypoints: ``python -m models.pose infer``.

Input (pixels, one person, every frame of one video):

* ``.npz`` with ``keypoints`` ``[F, 17, 2]`` and optionally ``image_size``
  ``[w, h]``; the joint order comes from ``--order`` (default ``h36m``).
  Read with ``allow_pickle=False``: a file cannot run code.
* ``.json``: ``{"image_size": [w, h], "order": "h36m" | "coco",
  "keypoints": [[[x, y], ... 17 joints], ... F frames]}``; ``image_size``
  and ``order`` may instead come from ``--image-size`` / ``--order``
  (both given and different is an error rather than a silent choice).

A single frame ``[17, 2]`` is accepted as ``F = 1``. Confidence columns,
16-joint files, OpenPose's 25 joints, NaN / inf coordinates and image
sizes that are not two positive numbers are refused with one error that
names the file and what was found; nothing is written then.

``--order coco`` maps the COCO-17 detector order to Human3.6M's 17 joints
with :func:`models.pose.skeleton.coco_to_h36m`::

    H36M joint                      from COCO (index)
    0      pelvis                   midpoint of left_hip (11), right_hip (12)
    1-3    right hip, knee, ankle   right_hip 12, right_knee 14, right_ankle 16
    4-6    left hip, knee, ankle    left_hip 11, left_knee 13, left_ankle 15
    7      spine                    midpoint of pelvis and thorax
    8      thorax                   midpoint of shoulders (5, 6)
    9      neck/nose                nose 0
    10     head                     eye midpoint (1, 2) pushed away from the
                                    nose by the nose-to-eye offset (COCO
                                    has no head top)
    11-13  left shoulder, elbow, wrist    5, 7, 9
    14-16  right shoulder, elbow, wrist   6, 8, 10

A model trained on H36M's ground-truth 2D joints sees the derived spine
and head differently from the real ones, so expect larger errors than on
Human3.6M's own keypoints. With a 16-joint model, joint 9 (neck/nose) is
dropped after the mapping (:func:`models.pose.skeleton.select_joints`).

Processing: pixels are normalised as ``x / w * 2 - [1, h / w]`` (the
training convention); every frame gets the window of the model's ``T``
frames centred on it, the sequence's first and last frames repeated to
fill windows at its ends; the model runs in eval mode, batched, under
``torch.no_grad``.

Output ``.npz`` (written atomically):

* ``poses_3d`` ``[F, J, 3]`` float32: metres, camera frame (x right, y
  down, z forward), root-relative (pelvis at 0);
* ``keypoints_2d`` ``[F, J, 2]`` float32: the input in pixels, in the H36M
  order and joint set the model saw (so joint j matches ``poses_3d``);
* ``image_size`` ``[2]`` (w, h) and ``joint_names`` ``[J]``.

``--stills N`` adds N PNGs of evenly spaced frames beside the output
(``<name>_frame00012.png``); ``--animation PATH`` a GIF (or MP4 with
ffmpeg) of the whole sequence.
"""
import argparse
import io
import json
import math
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from models.pose.camera import normalize_screen
from models.pose.io_utils import atomic_write
from models.pose.skeleton import (
    COCO_NAMES,
    JOINT_NAMES_17,
    coco_to_h36m,
    get_skeleton,
    select_joints,
)

ORDERS = ('h36m', 'coco')
_JOINT_NAMES = {'h36m': JOINT_NAMES_17, 'coco': COCO_NAMES}


@dataclass(frozen=True)
class Keypoints2D:
    """2D input after loading: ``[F, 17, 2]`` pixels in H36M order."""
    keypoints: np.ndarray
    image_size: Tuple[float, float]
    order: str  # the order of the file, before mapping
    source: str


# --------------------------------------------------------------------------
# pure steps


def normalise_keypoints(keypoints_px: np.ndarray,
                        image_size: Sequence[float]) -> np.ndarray:
    """Pixels to the training range: ``x / w * 2 - [1, h / w]``.

    x spans [-1, 1] and y keeps the aspect ratio ([-h/w, h/w]), so one
    scale factor serves both axes and the pose's proportions survive.

    Args:
        keypoints_px: ``[..., J, 2]`` pixels.
        image_size: ``(w, h)`` pixels.

    Returns:
        ``[..., J, 2]`` float32.
    """
    w, h = _image_size(image_size, 'image_size')
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 2:
        raise ValueError(f"'keypoints_px' must have shape [..., J, 2], got "
                         f"{kp.shape}")
    return normalize_screen(kp, w, h).astype(np.float32)


def window_indices(num_frames: int, frames: int) -> np.ndarray:
    """Frame indices of the window centred on every frame, edge-padded.

    Row ``f`` lists ``f - T//2, ..., f + T - 1 - T//2`` with indices outside
    the sequence clamped to its first / last frame (repeating the edge
    frames, as the training windows were padded). For odd ``T`` (every
    model preset) frame ``f`` is exactly the centre.

    Args:
        num_frames: ``F`` >= 1.
        frames: window length ``T`` >= 1.

    Returns:
        ``[F, T]`` int64.
    """
    for name, value in (('num_frames', num_frames), ('frames', frames)):
        if isinstance(value, bool) or \
                not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"'{name}' must be an int >= 1, got {value!r}")
    offsets = np.arange(frames) - frames // 2
    idx = np.arange(num_frames)[:, None] + offsets[None, :]
    return np.clip(idx, 0, num_frames - 1).astype(np.int64)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device('cpu')


def infer_poses(model: nn.Module, keypoints_px: np.ndarray,
                image_size: Sequence[float], frames: int,
                batch_size: int = 256) -> np.ndarray:
    """3D pose of every frame of a 2D keypoint sequence.

    The model is switched to eval mode for the call (dropout off, BatchNorm
    on its running statistics) and back to its previous mode afterwards.

    Args:
        model: maps float32 ``[B, T, J, 2]`` normalised 2D windows to
            ``[B, J, 3]`` root-relative metres (the centre frame's pose).
        keypoints_px: ``[F, J, 2]`` pixels, already in the model's joint
            order and count.
        image_size: ``(w, h)`` pixels.
        frames: the model's window length ``T``.
        batch_size: windows per forward pass; bounds memory, which grows
            with ``batch_size * T``.

    Returns:
        ``[F, J, 3]`` float32, metres, camera frame, root-relative.
    """
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[0] < 1:
        raise ValueError(f"'keypoints_px' must have shape [F, J, 2] with "
                         f"F >= 1, got {kp.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or batch_size < 1:
        raise ValueError(f"'batch_size' must be an int >= 1, got "
                         f"{batch_size!r}")
    num_frames, joints = kp.shape[:2]
    windows_of = torch.from_numpy(window_indices(num_frames, frames))
    normalised = torch.from_numpy(normalise_keypoints(kp, image_size))
    device = _model_device(model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, num_frames, batch_size):
                batch = normalised[windows_of[start:start + batch_size]]
                pred = model(batch.to(device))
                if tuple(pred.shape) != (batch.shape[0], joints, 3):
                    raise ValueError(
                        f"the model returned shape {tuple(pred.shape)} for "
                        f"input {tuple(batch.shape)}; expected "
                        f"({batch.shape[0]}, {joints}, 3): does its "
                        f"'frames'/'joints' config match?")
                # root-relative as promised: the model's root output is
                # near zero, not zero
                pred = pred - pred[:, :1]
                outputs.append(pred.detach().float().cpu())
    finally:
        model.train(was_training)
    poses = torch.cat(outputs).numpy()
    bad = ~np.isfinite(poses).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"the model produced NaN/inf for {int(bad.sum())} "
                         f"of {num_frames} frames (first: frame "
                         f"{int(np.argmax(bad))}); is the checkpoint sound?")
    return poses


# --------------------------------------------------------------------------
# reading and validating input


def _image_size(value: Any, source: str) -> Tuple[float, float]:
    """``(w, h)`` as two finite positive floats, or a ValueError."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    has_bool = isinstance(value, (list, tuple)) and \
        any(isinstance(v, bool) for v in value)
    if arr is None or has_bool or arr.shape != (2,) \
            or not np.isfinite(arr).all() or (arr <= 0).any():
        shown = value.tolist() if isinstance(value, np.ndarray) else value
        raise ValueError(f"{source}: image size must be two positive "
                         f"numbers [w, h] in pixels, got {shown!r}")
    return float(arr[0]), float(arr[1])


def _joint_count_error(path: Path, joints: int, order: str,
                       shape: Tuple[int, ...]) -> ValueError:
    hint = ''
    if joints == 16:
        hint = (' A 16-joint file (Human3.6M without neck/nose) is not '
                'accepted: give all 17 joints; a 16-joint model drops joint '
                '9 itself.')
    elif joints == 25:
        hint = (' 25 joints look like OpenPose BODY_25: convert to the '
                'COCO-17 order and pass --order coco.')
    elif joints in (18, 133):
        hint = (' This looks like an OpenPose COCO-18 or a whole-body file: '
                'keep the 17 COCO body joints and pass --order coco.')
    return ValueError(f"{path}: expected 17 joints per frame in {order} "
                      f"order, found {joints} (keypoints shape {shape})."
                      f"{hint}")


def _check_keypoints(kp: np.ndarray, path: Path, order: str) -> np.ndarray:
    """``[F, 17, 2]`` finite pixels, or a ValueError naming the problem."""
    if kp.ndim == 2:  # one frame
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[0] == 0:
        raise ValueError(f"{path}: 'keypoints' must have shape [F, 17, 2] "
                         f"(frames, joints, x/y pixels), got {kp.shape}")
    if kp.shape[-1] != 2:
        hint = (' Drop the confidence column (keep x, y).'
                if kp.shape[-1] == 3 else '')
        raise ValueError(f"{path}: 'keypoints' must hold 2 coordinates "
                         f"(x, y) per joint, found {kp.shape[-1]} (shape "
                         f"{kp.shape}).{hint}")
    if kp.shape[1] != 17:
        raise _joint_count_error(path, kp.shape[1], order, kp.shape)
    bad = ~np.isfinite(kp)
    if bad.any():
        frame, joint, _ = np.argwhere(bad)[0]
        count = int(bad.any(axis=-1).sum())
        raise ValueError(
            f"{path}: keypoints hold NaN or inf at frame {frame}, joint "
            f"{joint} ({_JOINT_NAMES[order][joint]}); {count} joint(s) in "
            f"all. Fill missing detections (e.g. interpolate) first.")
    return kp


def _numeric(value: Any, path: Path, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {what} must be a rectangular array of "
                         f"numbers ([F, 17, 2]); it is ragged or holds "
                         f"non-numbers") from None
    return arr


def _read_npz(path: Path) -> Tuple[np.ndarray, Any, Optional[str]]:
    with open(path, 'rb') as handle:
        magic = handle.read(4)
    if magic not in (b'PK\x03\x04', b'PK\x05\x06'):  # zip: local / empty
        raise ValueError(f"{path} is not an .npz file (no zip archive "
                         f"inside; np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if 'keypoints' not in data.files:
                raise ValueError(f"{path}: no 'keypoints' array; the file "
                                 f"has {', '.join(data.files) or 'none'}")
            kp = data['keypoints']
            size = data['image_size'] if 'image_size' in data.files \
                else None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz file: "
                         f"{err}") from None
    except ValueError as err:
        if 'allow_pickle' in str(err):
            raise ValueError(f"{path}: arrays of Python objects are refused "
                             f"(allow_pickle=False); store plain numbers")\
                from None
        raise
    if not np.issubdtype(kp.dtype, np.number):
        raise ValueError(f"{path}: 'keypoints' must be numbers, got dtype "
                         f"{kp.dtype}")
    return kp.astype(np.float64), size, None


def _read_json(path: Path) -> Tuple[np.ndarray, Any, Optional[str]]:
    try:
        # utf-8-sig: a byte-order mark (as Windows editors write) is fine
        with open(path, encoding='utf-8-sig') as handle:
            doc = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise ValueError(f"{path}: the JSON is nested too deeply to read "
                         f"(expected {{\"keypoints\": [[[x, y], ...], "
                         f"...]}})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 JSON text file") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object with 'keypoints', "
                         f"got a {type(doc).__name__}")
    if 'keypoints' not in doc:
        raise ValueError(f"{path}: no 'keypoints' entry; the object has "
                         f"{', '.join(map(repr, doc)) or 'no keys'}")
    order = doc.get('order')
    if order is not None and not isinstance(order, str):
        raise ValueError(f"{path}: 'order' must be one of {ORDERS}, got "
                         f"{order!r}")
    return (_numeric(doc['keypoints'], path, "'keypoints'"),
            doc.get('image_size'), order)


def _resolve(file_value: Any, cli_value: Any, what: str, path: Path,
             same) -> Any:
    """One value from the file or the command line, never two that differ."""
    if file_value is not None and cli_value is not None \
            and not same(file_value, cli_value):
        raise ValueError(f"{path} says {what} is {file_value!r} but the "
                         f"command line says {cli_value!r}; drop one")
    return file_value if file_value is not None else cli_value


def load_keypoints(path: Any, order: Optional[str] = None,
                   image_size: Optional[Sequence[float]] = None
                   ) -> Keypoints2D:
    """Read and validate a keypoint file (see the module docstring).

    Args:
        path: ``.npz`` or ``.json`` file.
        order: ``'h36m'`` or ``'coco'``; a JSON file's own ``order`` wins
            when this is ``None``; default ``'h36m'``.
        image_size: ``(w, h)`` when the file has none.

    Returns:
        :class:`Keypoints2D` with ``[F, 17, 2]`` pixels in H36M order.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"keypoint file {path} is a directory, not "
                                f"a file")
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in ('.npz', '.json'):
        raise ValueError(f"{path}: keypoint files must be .npz or .json, "
                         f"got {suffix or 'no suffix'}")
    if order is not None and order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    kp, file_size, file_order = (_read_npz if suffix == '.npz'
                                 else _read_json)(path)
    if file_order is not None and file_order not in ORDERS:
        raise ValueError(f"{path}: 'order' must be one of {ORDERS}, got "
                         f"{file_order!r}")
    order = _resolve(file_order, order, 'the joint order', path,
                     lambda a, b: a == b) or 'h36m'
    if file_size is not None:
        file_size = _image_size(file_size, f"{path}: 'image_size'")
    if image_size is not None:
        image_size = _image_size(image_size, '--image-size')
    size = _resolve(file_size, image_size, 'the image size', path,
                    lambda a, b: np.allclose(a, b))
    if size is None:
        raise ValueError(f"{path} has no 'image_size'; give --image-size W H "
                         f"(pixels of the video the keypoints come from)")
    kp = _check_keypoints(kp, path, order)
    if order == 'coco':
        kp = coco_to_h36m(kp)
    return Keypoints2D(kp, size, order, str(path))


def plausibility_warnings(keypoints_px: np.ndarray,
                          image_size: Sequence[float]) -> list:
    """Messages for inputs that load but are probably wrong (not errors:
    a person may well step partly out of the frame)."""
    w, h = _image_size(image_size, 'image_size')
    kp = np.asarray(keypoints_px, dtype=np.float64)
    messages = []
    if w >= 32 and np.abs(kp).max() <= 1.5:
        messages.append('the keypoints all lie within [-1.5, 1.5]: they look '
                        'normalised already, but pixels are expected')
    outside = ((kp[..., 0] < -0.1 * w) | (kp[..., 0] > 1.1 * w) |
               (kp[..., 1] < -0.1 * h) | (kp[..., 1] > 1.1 * h)).mean()
    if outside > 0.05:
        messages.append(f'{outside:.0%} of the keypoints lie well outside the '
                        f'{w:g} x {h:g} image: is the image size right?')
    return messages


# --------------------------------------------------------------------------
# command line


def load_model(path: Any, device: str = 'cpu') -> Tuple[nn.Module,
                                                         Dict[str, Any]]:
    """``(model in eval mode, config)`` from a checkpoint. Imported late so
    that this module (and its tests) need not build the real model."""
    from models.pose.checkpoint import load_for_inference
    return load_for_inference(path, map_location=device)


def _plots():
    """The plotting module, imported only when figures are asked for:
    matplotlib is an optional dependency (the ``pose`` extra), and every
    ``python -m models.pose`` command imports this module."""
    try:
        from models.pose import plots
    except ImportError as err:
        raise ValueError(f"--stills and --animation need matplotlib "
                         f"({err}); pip install -e '.[pose]'") from None
    return plots


def _device(name: str) -> str:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {name!r} (try 'cpu' or "
                         f"'cuda')") from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here")
    return name


def _config_int(config: Dict[str, Any], key: str, checkpoint: Any) -> int:
    value = config.get(key) if isinstance(config, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"checkpoint {checkpoint}: model config needs a "
                         f"positive int {key!r}, got {value!r}")
    return value


def _still_frames(num_frames: int, count: int) -> np.ndarray:
    """Up to ``count`` distinct frames spread evenly over the sequence."""
    return np.unique(np.linspace(0, num_frames - 1, count).round()
                     .astype(np.int64))


def _check_outputs(args: argparse.Namespace) -> Path:
    """Refuse bad output settings before anything is computed."""
    output = Path(args.output)
    if output.suffix.lower() != '.npz':
        raise ValueError(f"--output {output}: the file name must end in .npz")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"--output {output}: directory "
                                f"{output.parent} does not exist")
    if output.is_dir():
        raise IsADirectoryError(f"--output {output} is a directory")
    if Path(args.input).resolve() == output.resolve():
        raise ValueError(f"--output {output} is the input file; refusing to "
                         f"overwrite it")
    if args.stills < 0:
        raise ValueError(f"--stills must be >= 0, got {args.stills}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ValueError(f"--fps must be a positive number, got {args.fps}")
    if args.animation is not None:
        _plots().check_animation_path(args.animation)
    return output


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m models.pose infer``."""
    parser.add_argument('input', help='2D keypoints: .npz (key keypoints '
                        '[F, 17, 2] pixels, optional image_size [w, h]) or '
                        '.json ({"image_size", "order", "keypoints"})')
    parser.add_argument('--checkpoint', required=True,
                        help='trained model (best.pt or last.pt)')
    parser.add_argument('-o', '--output', required=True,
                        help='.npz to write: poses_3d [F, J, 3] metres, '
                        'camera frame, root-relative, and keypoints_2d')
    parser.add_argument('--order', choices=ORDERS, default=None,
                        help='joint order of the input (default: the JSON '
                        "file's 'order', else h36m); coco is mapped to H36M")
    parser.add_argument('--image-size', nargs=2, type=float, default=None,
                        metavar=('W', 'H'),
                        help='image width and height in pixels, when the '
                        'file does not store them')
    parser.add_argument('--batch-size', type=int, default=256,
                        help='windows per forward pass (default 256)')
    parser.add_argument('--onnx', type=Path, default=None, metavar='FILE',
                        help='run this exported model (python -m models.pose'
                        ' export) with ONNX Runtime instead of the '
                        "checkpoint's PyTorch weights; the checkpoint still "
                        'gives the configuration')
    parser.add_argument('--device', default='cpu',
                        help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument('--stills', type=int, default=0, metavar='N',
                        help='write PNGs of N evenly spaced frames beside '
                        'the output (default 0)')
    parser.add_argument('--animation', default=None, metavar='PATH',
                        help='also write an animation (.gif, or .mp4 with '
                        'ffmpeg)')
    parser.add_argument('--fps', type=float, default=25.0,
                        help='frame rate of the input video, for the '
                        'animation (default 25)')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """The ``infer`` command. Every input and output setting is checked
    before the model runs, so a bad one writes nothing.

    Returns:
        A dict with ``output`` (path), ``stills`` (paths), ``animation``
        (path or None) and ``poses_3d`` (``[F, J, 3]``).
    """
    output = _check_outputs(args)
    device = _device(args.device)
    data = load_keypoints(args.input, args.order, args.image_size)
    for message in plausibility_warnings(data.keypoints, data.image_size):
        print(f'warning: {args.input}: {message}', file=sys.stderr)
    model, config = load_model(args.checkpoint, device)
    if getattr(args, 'onnx', None) is not None:
        from models.pose.export import predictor_for
        model = predictor_for(args.onnx, config)
    frames = _config_int(config, 'frames', args.checkpoint)
    joints = _config_int(config, 'joints', args.checkpoint)
    skeleton = get_skeleton(joints)
    keypoints = select_joints(data.keypoints, joints)
    poses = infer_poses(model, keypoints, data.image_size, frames,
                        args.batch_size)

    atomic_write(output, _npz_bytes(
        poses_3d=poses, keypoints_2d=keypoints.astype(np.float32),
        image_size=np.asarray(data.image_size, dtype=np.float32),
        joint_names=np.asarray(skeleton.names)))
    plots = _plots() if args.stills or args.animation else None
    stills = []
    for frame in (_still_frames(len(poses), args.stills)
                  if args.stills else []):
        still = output.with_name(f'{output.stem}_frame{frame:05d}.png')
        stills.append(plots.save_pose_figure(
            still, keypoints[frame], poses[frame], skeleton=skeleton,
            image_size=data.image_size,
            title=f'{Path(args.input).name}: frame {frame}'))
    animation = None
    if args.animation is not None:
        animation = plots.save_pose_animation(
            args.animation, keypoints, poses, fps=args.fps,
            skeleton=skeleton, image_size=data.image_size,
            title=Path(args.input).name)
    print(f'{len(poses)} frames, {joints} joints, window {frames}: wrote '
          f'{output}' + (f', {len(stills)} stills' if stills else '') +
          (f', {animation}' if animation else ''))
    return {'output': output, 'stills': stills, 'animation': animation,
            'poses_3d': poses}

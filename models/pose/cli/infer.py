"""3D poses from a file of 2D keypoints: ``python -m models.pose infer``.

The input files are described in :mod:`models.pose.infer.keypoints`, the
processing in :mod:`models.pose.infer.lift`.

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
import importlib
import io
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Tuple

import numpy as np
import torch
from torch import nn

from models.common.files import atomic_write
from models.pose.data.skeleton import get_skeleton, select_joints
from models.pose.deploy.contract import check_checkpoint_file
from models.pose.deploy.predictor import predictor_for
from models.pose.infer.keypoints import (
    ORDERS,
    load_keypoints,
    plausibility_warnings,
)
from models.pose.infer.lift import infer_poses
from models.pose.nn.checkpoint import load_for_inference


def load_model(path: Any, device: str = 'cpu') -> Tuple[nn.Module,
                                                         Dict[str, Any]]:
    """``(model in eval mode, config)`` from a checkpoint (the tests put a
    stand-in model here)."""
    check_checkpoint_file(path, '--checkpoint')
    return load_for_inference(path, map_location=device)


def _viz(name: str) -> ModuleType:
    """``models.pose.viz.<name>``, imported only when figures are asked for:
    matplotlib is an optional dependency (the ``pose`` extra), and ``infer``
    runs without it when no still or animation is asked for."""
    try:  # lazy: matplotlib is optional
        return importlib.import_module(f'models.pose.viz.{name}')
    except ImportError as err:
        raise ValueError(f"--stills and --animation need matplotlib "
                         f"({err}); pip install -e '.[pose]'") from None


def _runnable_devices() -> list:
    """The device names ``--device`` accepts on this machine."""
    names = ['cpu']
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names += ['cuda'] + [f'cuda:{i}' for i in range(count)]
    mps = getattr(torch.backends, 'mps', None)
    if mps is not None and mps.is_available():
        names.append('mps')
    return names


def _device(name: str) -> str:
    """``name`` if the model can run there: a device type torch knows but
    that holds no data (``meta``) or is absent here would fail only once
    the checkpoint is half loaded, with a message about storages."""
    accepted = _runnable_devices()
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or str(device) not in accepted:
        seen = 'an unknown device' if device is None else (
            'a device that cannot run the model' if device.type not in
            ('cpu', 'cuda', 'mps') else 'not available here')
        raise ValueError(f"--device {name!r} is {seen}; accepted here: "
                         f"{', '.join(accepted)}")
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
        _viz('animation').check_animation_path(args.animation)
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
        model = predictor_for(args.onnx, config,
                              weights=model.state_dict())
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
    stills = []
    for frame in (_still_frames(len(poses), args.stills)
                  if args.stills else []):
        still = output.with_name(f'{output.stem}_frame{frame:05d}.png')
        stills.append(_viz('stills').save_pose_figure(
            still, keypoints[frame], poses[frame], skeleton=skeleton,
            image_size=data.image_size,
            title=f'{Path(args.input).name}: frame {frame}'))
    animation = None
    if args.animation is not None:
        animation = _viz('animation').save_pose_animation(
            args.animation, keypoints, poses, fps=args.fps,
            skeleton=skeleton, image_size=data.image_size,
            title=Path(args.input).name)
    print(f'{len(poses)} frames, {joints} joints, window {frames}: wrote '
          f'{output}' + (f', {len(stills)} stills' if stills else '') +
          (f', {animation}' if animation else ''))
    return {'output': output, 'stills': stills, 'animation': animation,
            'poses_3d': poses}

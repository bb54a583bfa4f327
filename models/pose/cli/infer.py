"""3D poses from a 2D detector's output: ``python -m models.pose infer``.

::

    python -m models.pose infer INPUT --checkpoint best.pt -o out.bvh \\
        [-o out.mp4 ...] [--format F] [--fps 30] [--person ID | --all-people]

**Input.** The format is detected from the file (a directory is an
OpenPose ``--write_json`` folder) or forced with ``--format``: COCO
keypoint results or annotations, OpenPose, AlphaPose, MMPose,
VideoPose3D's ``data_2d_custom`` files, and this project's own ``.json``
/ ``.npz`` (also MediaPipe landmarks, with ``--order``); see
:mod:`models.pose.infer.formats` and ``docs/data_formats.rst``.

**People.** People are linked into tracks over the frames (by the file's
track ids where it has them, else by a box tracker,
:mod:`models.pose.infer.tracks`). The longest track is lifted;
``--person ID`` picks another, ``--all-people`` lifts every track into its
own files, ``<name>_person<ID><suffix>`` (``<name>_person<ID>_start<F>``
where one id has several runs of frames). Joints below
``--min-confidence`` (default: the detector's scale, 0.3 for 0-1 scores,
0.1 for OpenPose, 0.5 for MediaPipe and COCO flags) are interpolated in
time; gaps longer than ``--max-gap`` frames (default 10) are filled too
but flagged ``long_gap``.

**Frame rate.** ``--fps`` is the input's frame rate, needed where the file
has none. The model sees its training rate (the checkpoint's
``data_fps``, else 50 fps as Human3.6M and the demo set): the track is
resampled to it and the 3D poses back to the input's frames, so a 30 fps
video gets one pose per input frame. A project ``.json`` / ``.npz``
without a rate is taken at the model's rate (what ``infer`` always did),
with a warning; the other formats need ``--fps``.

**Outputs**, by each ``-o``'s suffix (several ``-o`` allowed; all are
checked before anything is computed, and none may be the input):

* ``.npz``: ``poses_3d`` ``[F, J, 3]`` float32 metres, camera frame (x
  right, y down, z forward), root-relative (pelvis at 0);
  ``keypoints_2d`` ``[F, J, 2]`` the (filled) input in pixels, in the
  H36M order the model saw; ``confidence`` ``[F, J]`` (the detector's, 0
  where missing); ``filled`` and ``long_gap`` ``[F, J]``; ``frames`` (the
  input frame of each row), ``fps``, ``image_size``, ``joint_names``,
  ``parents``;
* ``.json`` / ``.csv``: the same as text; ``.bvh``: a motion-capture
  skeleton (:mod:`models.pose.infer.writers`);
* ``.gif`` / ``.mp4``: the 2D input beside the 3D skeleton, at the input's
  frame rate (MP4 needs ffmpeg: the ``pose`` extra brings
  ``imageio-ffmpeg``).

``--stills N`` adds N PNGs of evenly spaced frames beside the first
``-o`` (``<name>_frame00012.png``); ``--animation PATH`` is one more
``.gif`` / ``.mp4`` output.
"""
import argparse
import importlib
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from models.common.outputs import check_output
from models.pose.data.skeleton import get_skeleton
from models.pose.deploy.predictor import predictor_for
from models.pose.infer.formats import FORMATS, Detections, read_detections
from models.pose.infer.layouts import LAYOUT_NAMES
from models.pose.infer.lift import infer_poses
from models.pose.infer.pipeline import (
    Prepared,
    finish,
    prepare_track,
    tracks_of,
)
from models.pose.infer.plausibility import plausibility_warnings
from models.pose.infer.resample import MODEL_FPS
from models.pose.infer.tracks import MAX_GAP, Track, select_tracks
from models.pose.infer.writers import SUFFIXES, PoseSequence, write_poses
from models.pose.nn.checkpoint import (
    build_model,
    check_checkpoint_file,
    load_checkpoint,
)

ANIMATIONS = ('.gif', '.mp4')


def load_model(path: Any, device: str = 'cpu') -> Tuple[nn.Module,
                                                         Dict[str, Any]]:
    """``(model in eval mode, config)`` from a checkpoint: its model config
    plus ``'data_fps'``, the frame rate of the training data, where the
    checkpoint records one (the tests put a stand-in model here)."""
    check_checkpoint_file(path, '--checkpoint')
    state = load_checkpoint(path, device)
    model = build_model(state, path).to(device).eval()
    config = dict(state['model_config'])
    if state.get('data_fps') is not None:
        config['data_fps'] = state['data_fps']
    return model, config


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


def _model_fps(config: Dict[str, Any], checkpoint: Any) -> float:
    """The frame rate the model was trained at: the checkpoint's
    ``data_fps``, else 50 (Human3.6M and the demo set)."""
    value = config.get('data_fps', MODEL_FPS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise ValueError(f"checkpoint {checkpoint}: 'data_fps' must be a "
                         f"positive number of frames per second, got "
                         f"{value!r}")
    return float(value)


def _output_list(args: argparse.Namespace) -> List[Path]:
    """Every ``-o`` (one string from older callers, or a list) and the
    ``--animation`` path, in order."""
    given = args.output
    paths = [given] if isinstance(given, (str, Path)) else list(given)
    if args.animation is not None:
        paths.append(args.animation)
    return [Path(p) for p in paths]


def _check_target(path: Path) -> Path:
    """Refuse an output of a kind infer cannot write, before any work (the
    directory, links and inputs are :func:`check_output`'s)."""
    suffix = path.suffix.lower()
    if suffix in ANIMATIONS:
        return _viz('animation').check_animation_path(path)
    if suffix not in SUFFIXES:
        raise ValueError(f"--output {path}: suffix {suffix or '(none)'}; "
                         f"expected one of "
                         f"{', '.join(SUFFIXES + ANIMATIONS)}")
    return path


def _check_outputs(args: argparse.Namespace) -> List[Path]:
    """Refuse bad output settings before anything is computed."""
    source = Path(args.input).resolve()
    outputs = _output_list(args)
    inputs = {name: value for name, value in (
        ('the input', args.input), ('--checkpoint', args.checkpoint),
        ('--onnx', getattr(args, 'onnx', None))) if value is not None}
    for path in outputs:
        _check_target(path)
        if path.resolve() == source:
            raise ValueError(f"--output {path} is the input file; refusing "
                             f"to overwrite it")
        if source.is_dir() and path.resolve().parent == source:
            raise ValueError(f"--output {path}: inside the input directory "
                             f"{args.input}; expected it elsewhere")
        # the project's rule for every output: not an input (same file
        # under any name), not in another run's locked directory, no links
        check_output(path, argument='--output', inputs=inputs,
                     create_parents=False)
    names = [p.resolve() for p in outputs]
    twice = sorted({str(p) for p in outputs if names.count(p.resolve()) > 1})
    if twice:
        raise ValueError(f"--output: {', '.join(twice)} given twice; "
                         f"expected each file once")
    _check_numbers(args)
    return outputs


def _check_numbers(args: argparse.Namespace) -> None:
    if args.stills < 0:
        raise ValueError(f"--stills must be >= 0, got {args.stills}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.fps is not None and not (math.isfinite(args.fps) and
                                     args.fps > 0):
        raise ValueError(f"--fps must be a positive number of frames per "
                         f"second, got {args.fps}")
    if args.max_gap < 0:
        raise ValueError(f"--max-gap must be >= 0 frames, got "
                         f"{args.max_gap}")
    if args.min_confidence is not None and not (
            math.isfinite(args.min_confidence) and args.min_confidence >= 0):
        raise ValueError(f"--min-confidence must be a number >= 0, got "
                         f"{args.min_confidence}")
    if args.person is not None and args.all_people:
        raise ValueError(f"--person {args.person} and --all-people: "
                         f"expected one of them")


def _read_input(args: argparse.Namespace) -> Detections:
    """The detections, refused now (before the model is loaded) when the
    image size is unknown, or the frame rate outside a project file."""
    det = read_detections(args.input, args.format, order=args.order,
                          image_size=args.image_size, fps=args.fps,
                          video=args.video)
    if det.image_size is None:
        raise ValueError(f"{det.source}: no 'image_size'; give --image-size "
                         f"W H (pixels of the video the keypoints come "
                         f"from)")
    if det.fps is None and det.format != 'project':
        raise ValueError(f"{det.source}: the {det.format} file gives no "
                         f"frame rate; give --fps (the video's frames per "
                         f"second, e.g. 25 or 30)")
    return det


def _with_fps(det: Detections, model_fps: float) -> Detections:
    """A project file without a rate is taken at the model's own rate:
    no resampling, which is what ``infer`` did before ``--fps`` meant the
    input's rate, so old files give the old poses."""
    if det.fps is not None:
        return det
    print(f"warning: {det.source}: no frame rate in the file and no --fps; "
          f"taking the frames at the model's {model_fps:g} fps (no "
          f"resampling); give --fps for a video at another rate",
          file=sys.stderr)
    return replace(det, fps=model_fps)


def _span(track: Track) -> str:
    return f'frames {track.start}-{track.start + track.length - 1}'


def _choose(tracks: Sequence[Track], args: argparse.Namespace
            ) -> List[Track]:
    """The tracks to lift: all, one id's (the longest run), or the
    longest."""
    if args.all_people:
        return list(tracks)
    if args.person is None:
        return select_tracks(tracks, 'longest')
    runs = [t for t in tracks if t.track_id == args.person]
    if not runs:
        raise ValueError(f"--person {args.person}: no such track; expected "
                         f"one of {sorted({t.track_id for t in tracks})}")
    if len(runs) > 1:
        print(f"note: person {args.person} is seen in {len(runs)} separate "
              f"runs ({', '.join(_span(t) for t in runs)}); taking the "
              f"longest (--all-people writes each)")
    return [max(runs, key=lambda t: (t.length, -t.start))]


def _label(track: Track, tracks: Sequence[Track]) -> str:
    """``'3'``, or ``'3_start120'`` where id 3 has several runs."""
    runs = sum(t.track_id == track.track_id for t in tracks)
    return f'{track.track_id}' if runs == 1 \
        else f'{track.track_id}_start{track.start}'


def _targets(outputs: Sequence[Path], label: Optional[str]) -> List[Path]:
    """The files of one person: the ``-o`` names, or with
    ``_person<label>`` before the suffix (``--all-people``)."""
    if label is None:
        return list(outputs)
    named = [p.with_name(f'{p.stem}_person{label}{p.suffix}')
             for p in outputs]
    for path in named:  # the directory was checked; the name was not
        if path.is_dir():
            raise IsADirectoryError(f"--output {path} is a directory")
    return named


def _describe(det: Detections, tracks: Sequence[Track], threshold: float,
              args: argparse.Namespace) -> None:
    ids = 'ids from the file' if det.has_track_ids else "the tracker's ids"
    listed = ', '.join(f'{t.track_id} ({_span(t)})' for t in tracks[:8])
    more = f', ... ({len(tracks) - 8} more)' if len(tracks) > 8 else ''
    where = '--min-confidence' if args.min_confidence is not None \
        else f'the {det.format} default'
    print(f'{det.source}: {det.format}, {det.num_frames} frames at '
          f'{det.fps:g} fps; {len(tracks)} track(s) ({ids}): {listed}'
          f'{more}; joints below confidence {threshold:g} ({where}) are '
          f'filled')


def _lift(model: nn.Module, prep: Prepared, frames: int, joints: int,
          batch_size: int) -> PoseSequence:
    poses = infer_poses(model, prep.model_keypoints, prep.image_size,
                        frames, batch_size)
    return finish(prep, poses, joints)


def _report_track(prep: Prepared, label: str, chosen: str,
                  max_gap: int) -> None:
    track = prep.track
    filled, long = int(track.filled.sum()), int(track.long_gap.sum())
    print(f'person {label} ({chosen}): {_span(track)}, {track.length} '
          f'frames; {filled} joint value(s) filled, {long} in gaps over '
          f'{max_gap} frames; {prep.fps:g} fps -> model {prep.model_fps:g} '
          f'fps ({len(prep.model_keypoints)} frames) -> {track.length} '
          f'poses')
    if long:
        print(f'warning: {prep.source}: person {label}: {long} joint '
              f'value(s) lie in gaps longer than {max_gap} frames; they '
              f'are straight-line guesses (long_gap in the output)',
              file=sys.stderr)
    for message in plausibility_warnings(track.keypoints, prep.image_size):
        print(f'warning: {prep.source}: {message}', file=sys.stderr)


def _write(targets: Sequence[Path], seq: PoseSequence, title: str
           ) -> List[Path]:
    """Every file of one person, by suffix."""
    written = []
    skeleton = get_skeleton(len(seq.joint_names))
    for path in targets:
        if path.suffix.lower() in ANIMATIONS:
            written.append(_viz('animation').save_pose_animation(
                path, seq.keypoints_2d, seq.poses_3d, fps=seq.fps,
                skeleton=skeleton, image_size=seq.image_size, title=title))
        else:
            written.append(write_poses(path, seq))
    return written


def _stills(first: Path, seq: PoseSequence, count: int, title: str
            ) -> List[Path]:
    """PNGs of ``count`` evenly spaced frames beside ``first``; the name
    carries the input frame number."""
    skeleton = get_skeleton(len(seq.joint_names))
    out = []
    for row in (_still_frames(len(seq.poses_3d), count) if count else []):
        frame = int(seq.frame_indices[row])
        still = first.with_name(f'{first.stem}_frame{frame:05d}.png')
        out.append(_viz('stills').save_pose_figure(
            still, seq.keypoints_2d[row], seq.poses_3d[row],
            skeleton=skeleton, image_size=seq.image_size,
            title=f'{title}: frame {frame}'))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m models.pose infer``."""
    _add_input_arguments(parser)
    _add_people_arguments(parser)
    parser.add_argument('--checkpoint', required=True,
                        help='trained model (best.pt or last.pt); its '
                        "'data_fps' (else 50) is the model's frame rate")
    parser.add_argument('-o', '--output', required=True, action='append',
                        metavar='OUT', help='file to write, by suffix: '
                        '.npz, .json, .csv (poses_3d metres, camera frame, '
                        'root-relative, with keypoints_2d, confidence, '
                        'filled), .bvh, or .gif / .mp4 (2D input beside '
                        'the 3D skeleton); may be given several times')
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
                        'the first output (default 0)')
    parser.add_argument('--animation', default=None, metavar='PATH',
                        help='also write an animation (.gif, or .mp4 with '
                        'ffmpeg); the same as one more -o')


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('input', help="2D keypoints: a detector's file "
                        '(COCO results / annotations, AlphaPose, MMPose, '
                        "VideoPose3D .npz), an OpenPose --write_json "
                        "directory, or this project's .json / .npz")
    parser.add_argument('--format', choices=sorted(FORMATS), default=None,
                        help='the input format (default: detected from the '
                        'file)')
    parser.add_argument('--order', choices=sorted(LAYOUT_NAMES),
                        default=None, help="joint order of a project file "
                        "(default: the file's 'order', else h36m)")
    parser.add_argument('--image-size', nargs=2, type=float, default=None,
                        metavar=('W', 'H'),
                        help='image width and height in pixels, when the '
                        'file does not store them')
    parser.add_argument('--fps', type=float, default=None,
                        help="the input's frame rate; required where the "
                        'file stores none (COCO, OpenPose, AlphaPose, MMPose'
                        ', VideoPose3D), except that a project file without '
                        "one is taken at the model's rate, unresampled. The "
                        "poses come back at the input's frames and the "
                        'animation plays at this rate')
    parser.add_argument('--video', default=None, metavar='NAME',
                        help='the video of a VideoPose3D file holding '
                        'several')


def _add_people_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--min-confidence', type=float, default=None,
                        metavar='C', help="joints below C are missing and "
                        "filled (default: the detector's scale: 0.3 for "
                        '0-1 scores (COCO results, AlphaPose, MMPose, '
                        'VideoPose3D, project files), 0.1 OpenPose, 0.5 '
                        'MediaPipe and COCO annotation flags)')
    parser.add_argument('--max-gap', type=int, default=MAX_GAP,
                        metavar='N', help='gaps longer than N frames are '
                        f'still filled but flagged long_gap (default '
                        f'{MAX_GAP})')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--person', type=int, default=None, metavar='ID',
                       help="lift this track (the file's track id, else "
                       "the tracker's, as printed; default the longest)")
    group.add_argument('--all-people', action='store_true',
                       help='lift every track, each into '
                       '<name>_person<ID><suffix>')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """The ``infer`` command. Every output and the input file are checked
    before the model is loaded, so a bad setting writes nothing.

    Returns:
        A dict with ``output`` (the first file), ``outputs`` (every file
        but the stills), ``stills``, ``animation`` (the first GIF / MP4 or
        None), ``poses_3d`` (the first person's ``[F, J, 3]``) and
        ``people`` (label -> its files).
    """
    outputs = _check_outputs(args)
    device = _device(args.device)
    det = _read_input(args)
    model, config = load_model(args.checkpoint, device)
    if getattr(args, 'onnx', None) is not None:
        architecture = {k: v for k, v in config.items() if k != 'data_fps'}
        model = predictor_for(args.onnx, architecture,
                              weights=model.state_dict())
    frames = _config_int(config, 'frames', args.checkpoint)
    joints = _config_int(config, 'joints', args.checkpoint)
    model_fps = _model_fps(config, args.checkpoint)
    det = _with_fps(det, model_fps)
    tracks, threshold = tracks_of(det, joints, args.min_confidence)
    _describe(det, tracks, threshold, args)
    jobs = _prepare_all(det, tracks, _choose(tracks, args), threshold,
                        model_fps, outputs, args)
    return _lift_all(model, jobs, args, frames, joints)


def _prepare_all(det: Detections, tracks: Sequence[Track],
                 chosen: Sequence[Track], threshold: float,
                 model_fps: float, outputs: Sequence[Path],
                 args: argparse.Namespace) -> list:
    """``(label, prepared track, its files)`` of every chosen track, all
    before any file is written. With ``--all-people`` a track that cannot
    be lifted (a joint never seen) is skipped with a warning, rather than
    costing every other person."""
    jobs = []
    for track in chosen:
        label = _label(track, tracks)
        try:
            prep = prepare_track(det, track, threshold, args.max_gap,
                                 model_fps)
        except ValueError as err:
            if not args.all_people:
                raise
            print(f'warning: {det.source}: skipping person {label}: {err}',
                  file=sys.stderr)
            continue
        jobs.append((label, prep, _targets(
            outputs, label if args.all_people else None)))
    if not jobs:
        raise ValueError(f"{det.source}: none of the {len(chosen)} tracks "
                         f"can be lifted (see the warnings); expected one "
                         f"whose every joint is seen at least once")
    return jobs


def _lift_all(model: nn.Module, jobs: list, args: argparse.Namespace,
              frames: int, joints: int) -> Dict[str, Any]:
    title = Path(args.input).name
    people: Dict[str, List[Path]] = {}
    stills: List[Path] = []
    first = None
    how = 'all people' if args.all_people else \
        'the longest track' if args.person is None else '--person'
    for label, prep, targets in jobs:
        _report_track(prep, label, how, args.max_gap)
        seq = _lift(model, prep, frames, joints, args.batch_size)
        people[label] = _write(targets, seq, title)
        stills += _stills(targets[0], seq, args.stills, title)
        first = seq if first is None else first
    written = [p for files in people.values() for p in files]
    animation = next((p for p in written
                      if p.suffix.lower() in ANIMATIONS), None)
    print(f'wrote {len(written)} file(s): '
          f"{', '.join(map(str, written))}" +
          (f' and {len(stills)} stills' if stills else ''))
    return {'output': written[0], 'outputs': written, 'stills': stills,
            'animation': animation, 'poses_3d': first.poses_3d,
            'people': people}

"""Figures of 2D inputs and 3D poses, animations, training curves and
per-joint errors.

Everything renders off-screen on matplotlib's Agg canvas, built directly
from :class:`matplotlib.figure.Figure`: pyplot and its global backend are
never touched, so these functions work on a headless machine, in threads,
and next to a user's own pyplot session. Every file is rendered in memory
(or in a private temporary directory, for animations) and then moved into
place atomically: a failure never leaves a truncated image behind.

Colours: the subject's left limbs are blue, right limbs red, the spine and
head grey; a ground-truth overlay is drawn dashed in green.

3D display convention: poses are in the camera frame (x right, y down,
z forward, the Human3.6M / OpenCV convention). They are shown with x to the
right, camera z as depth and -y as up, seen from slightly above and beside
the camera, so the figure looks like the image the 2D input came from.
"""
import csv
import os
import tempfile
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers '3d')

from models.common.files import atomic_write, save_figure_atomic
from models.pose.data.skeleton import Skeleton, get_skeleton

PathLike = Union[str, os.PathLike]

LEFT_COLOUR = '#1f77b4'
RIGHT_COLOUR = '#d62728'
CENTRE_COLOUR = '#555555'
GT_COLOUR = '#2ca02c'
#: View of the 3D axes (degrees): a little above and to the camera's left.
VIEW_ELEV, VIEW_AZIM = 15.0, -75.0

#: Column names accepted for the training-curve plot, first match wins
#: (``train.py`` writes ``train_loss``, and ``val_mpjpe_mm`` when it has a
#: validation split).
LOSS_COLUMNS = ('train_loss', 'loss')
MPJPE_COLUMNS = ('val_mpjpe_mm', 'test_mpjpe_mm', 'val_mpjpe', 'mpjpe')
P_MPJPE_COLUMNS = ('val_p_mpjpe_mm', 'test_p_mpjpe_mm', 'p_mpjpe')


# --------------------------------------------------------------------------
# checks and small helpers


def _skeleton_for(joints: np.ndarray, skeleton: Optional[Skeleton],
                  name: str) -> Skeleton:
    sk = skeleton if skeleton is not None else get_skeleton(joints.shape[-2])
    if joints.shape[-2] != sk.num_joints:
        raise ValueError(f"'{name}' has {joints.shape[-2]} joints but the "
                         f"skeleton has {sk.num_joints} joints")
    return sk


def _as_poses(array: Any, name: str, dims: int, frames: bool = False
              ) -> np.ndarray:
    """``array`` as float ``[J, dims]`` (or ``[F, J, dims]``), finite."""
    arr = np.asarray(array, dtype=np.float64)
    want = f"[F, J, {dims}]" if frames else f"[J, {dims}]"
    if arr.ndim != (3 if frames else 2) or arr.shape[-1] != dims \
            or arr.shape[-2] < 1 or (frames and arr.shape[0] < 1):
        raise ValueError(f"'{name}' must have shape {want}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"'{name}' holds NaN or inf; nothing to draw")
    return arr


def _to_display(joints_cam: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> display (x, depth, up)."""
    return np.stack([joints_cam[..., 0], joints_cam[..., 2],
                     -joints_cam[..., 1]], axis=-1)


def _bone_colours(skeleton: Skeleton) -> List[str]:
    """One colour per bone of ``skeleton.edges``, by the child joint's side
    (a shoulder's bone to the thorax belongs to that arm)."""
    left, right = set(skeleton.left), set(skeleton.right)
    return [LEFT_COLOUR if c in left else RIGHT_COLOUR if c in right
            else CENTRE_COLOUR for c in skeleton.edges[1]]


def _joint_colours(skeleton: Skeleton) -> List[str]:
    left, right = set(skeleton.left), set(skeleton.right)
    return [LEFT_COLOUR if j in left else RIGHT_COLOUR if j in right
            else CENTRE_COLOUR for j in range(skeleton.num_joints)]


def _check_target(path: PathLike, suffixes: Sequence[str]) -> Path:
    """Fail before any rendering if ``path`` cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"cannot write {path}: the file name must end in "
                         f"one of {', '.join(suffixes)}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory "
                                f"{path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    return path


_IMAGE_SUFFIXES = ('.png', '.pdf', '.svg', '.jpg', '.jpeg')
_TO_MM = {'m': 1000.0, 'mm': 1.0}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: Path, dpi: int) -> None:
    """Render to memory, then write atomically."""
    save_figure_atomic(fig, path, dpi=dpi)


def _legend_handles(with_gt: bool) -> List[Line2D]:
    handles = [Line2D([], [], color=LEFT_COLOUR, lw=2, label='left'),
               Line2D([], [], color=RIGHT_COLOUR, lw=2, label='right'),
               Line2D([], [], color=CENTRE_COLOUR, lw=2, label='centre')]
    if with_gt:
        handles.append(Line2D([], [], color=GT_COLOUR, lw=1.5, ls='--',
                              label='ground truth'))
    return handles


# --------------------------------------------------------------------------
# drawing on axes


def draw_skeleton_2d(ax, joints: np.ndarray,
                     skeleton: Optional[Skeleton] = None, *,
                     colour: Optional[str] = None, linestyle: str = '-',
                     linewidth: float = 2.0, marker_size: float = 3.0,
                     alpha: float = 1.0, setup_axes: bool = True
                     ) -> List[Line2D]:
    """Draw a 2D pose in image coordinates.

    Args:
        ax: a 2D matplotlib Axes.
        joints: ``[J, 2]`` pixel coordinates (x right, y down).
        skeleton: defaults to the H36M skeleton with ``J`` joints.
        colour: one colour for every bone (e.g. a ground-truth overlay);
            ``None`` colours by side.
        setup_axes: make the axes equal-aspect with y pointing down, so
            the pose looks like it does in the image.

    Returns:
        The bone lines followed by the joint-marker line (for animation).
    """
    joints = _as_poses(joints, 'joints', 2)
    sk = _skeleton_for(joints, skeleton, 'joints')
    colours = _bone_colours(sk) if colour is None else \
        [colour] * sk.edges.shape[1]
    lines = []
    for (parent, child), c in zip(sk.edges.T, colours):
        seg = joints[[parent, child]]
        lines += ax.plot(seg[:, 0], seg[:, 1], color=c, ls=linestyle,
                         lw=linewidth, alpha=alpha)
    lines += ax.plot(joints[:, 0], joints[:, 1], ls='none', marker='o',
                     ms=marker_size, color=colour or 'black', alpha=alpha)
    if setup_axes:
        ax.set_aspect('equal', adjustable='datalim')
        if not ax.yaxis_inverted():
            ax.invert_yaxis()
    return lines


def _set_equal_3d(ax, poses_display: Sequence[np.ndarray],
                  units: str) -> None:
    """One cube around every given pose: equal aspect and labels."""
    pts = np.concatenate([p.reshape(-1, 3) for p in poses_display])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    radius = max(float((hi - lo).max()) / 2 * 1.1, 1e-6)
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[1] - radius, centre[1] + radius)
    ax.set_zlim(centre[2] - radius, centre[2] + radius)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel(f'x ({units})', labelpad=6)
    ax.set_ylabel(f'depth z ({units})', labelpad=6)
    ax.set_zlabel(f'up -y ({units})', labelpad=6)
    ax.locator_params(nbins=4)  # fewer ticks: labels stop overlapping
    ax.tick_params(labelsize=8, pad=1)
    ax.view_init(elev=VIEW_ELEV, azim=VIEW_AZIM)


def draw_skeleton_3d(ax, joints: np.ndarray,
                     skeleton: Optional[Skeleton] = None, *,
                     colour: Optional[str] = None, linestyle: str = '-',
                     linewidth: float = 2.0, marker_size: float = 3.0,
                     alpha: float = 1.0, setup_axes: bool = True,
                     units: str = 'm') -> List[Line2D]:
    """Draw a 3D pose given in the camera frame.

    Args:
        ax: a matplotlib 3D Axes (``projection='3d'``).
        joints: ``[J, 3]`` camera-frame coordinates (x right, y down,
            z forward), any unit; shown as x right, z as depth, -y up.
        skeleton: defaults to the H36M skeleton with ``J`` joints.
        colour: one colour for every bone; ``None`` colours by side.
        setup_axes: fit an equal-aspect cube around this pose and set the
            view and labels; pass ``False`` when overlaying several poses
            and fit them together.
        units: unit name for the axis labels.

    Returns:
        The bone lines followed by the joint-marker line (for animation).
    """
    joints = _as_poses(joints, 'joints', 3)
    sk = _skeleton_for(joints, skeleton, 'joints')
    disp = _to_display(joints)
    colours = _bone_colours(sk) if colour is None else \
        [colour] * sk.edges.shape[1]
    lines = []
    for (parent, child), c in zip(sk.edges.T, colours):
        seg = disp[[parent, child]]
        lines += ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=c,
                         ls=linestyle, lw=linewidth, alpha=alpha)
    lines += ax.plot(disp[:, 0], disp[:, 1], disp[:, 2], ls='none',
                     marker='o', ms=marker_size, color=colour or 'black',
                     alpha=alpha)
    if setup_axes:
        _set_equal_3d(ax, [disp], units)
    return lines


def _update_lines(lines: List[Line2D], joints: np.ndarray, sk: Skeleton,
                  is_3d: bool) -> None:
    """Move lines made by ``draw_skeleton_*`` to a new pose."""
    pts = _to_display(joints) if is_3d else joints
    for line, (parent, child) in zip(lines[:-1], sk.edges.T):
        seg = pts[[parent, child]]
        if is_3d:
            line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        else:
            line.set_data(seg[:, 0], seg[:, 1])
    if is_3d:
        lines[-1].set_data_3d(pts[:, 0], pts[:, 1], pts[:, 2])
    else:
        lines[-1].set_data(pts[:, 0], pts[:, 1])


def _pose_axes(fig: Figure, image_size: Optional[Sequence[float]],
               input_units: str):
    """Side-by-side 2D (image coordinates, y down) and 3D axes."""
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection='3d')
    ax2.set_title('2D input' + (' (pixels)' if input_units == 'px' else
                                f' ({input_units})'))
    ax2.set_xlabel(f'x ({input_units})')
    ax2.set_ylabel(f'y ({input_units})')
    if image_size is not None:
        w, h = (float(v) for v in image_size)
        ax2.set_xlim(0, w)
        ax2.set_ylim(h, 0)
        ax2.set_aspect('equal')
    return ax2, ax3


def _fit_2d(ax, points: np.ndarray) -> None:
    """Equal-aspect limits around ``points`` [..., 2], y down."""
    pts = points.reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    radius = max(float((hi - lo).max()) / 2 * 1.1, 1e-6)
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[1] + radius, centre[1] - radius)
    ax.set_aspect('equal', adjustable='box')


# --------------------------------------------------------------------------
# files


def save_pose_figure(path: PathLike, input_2d: np.ndarray,
                     pred_3d: np.ndarray,
                     gt_3d: Optional[np.ndarray] = None,
                     title: Optional[str] = None,
                     skeleton: Optional[Skeleton] = None,
                     image_size: Optional[Sequence[float]] = None,
                     units: str = 'm', input_units: str = 'px',
                     dpi: int = 100) -> Path:
    """One frame: the 2D input beside the 3D prediction (GT overlaid).

    Args:
        path: ``.png`` (or ``.pdf``, ``.svg``, ``.jpg``) file to write.
        input_2d: ``[J, 2]`` image coordinates (x right, y down).
        pred_3d: ``[J, 3]`` camera frame, root-relative, in ``units``.
        gt_3d: optional ``[J, 3]`` ground truth in the same frame and unit;
            drawn dashed green.
        title: figure title; when omitted and ``gt_3d`` is given, the
            prediction's MPJPE in mm.
        image_size: ``(w, h)``: frame the 2D panel like the image.
        units: ``'m'`` or ``'mm'``: unit of the 3D poses.
        input_units: label of the 2D coordinates: ``'px'``, or e.g.
            ``'normalised'`` for network inputs.

    Returns:
        The path written.
    """
    path = _check_target(path, _IMAGE_SUFFIXES)
    input_2d = _as_poses(input_2d, 'input_2d', 2)
    pred_3d = _as_poses(pred_3d, 'pred_3d', 3)
    sk = _skeleton_for(pred_3d, skeleton, 'pred_3d')
    _skeleton_for(input_2d, sk, 'input_2d')
    if gt_3d is not None:
        gt_3d = _as_poses(gt_3d, 'gt_3d', 3)
        _skeleton_for(gt_3d, sk, 'gt_3d')

    fig = _new_figure(10, 5)
    ax2, ax3 = _pose_axes(fig, image_size, input_units)
    draw_skeleton_2d(ax2, input_2d, sk, setup_axes=False)
    if image_size is None:
        _fit_2d(ax2, input_2d)
    draw_skeleton_3d(ax3, pred_3d, sk, setup_axes=False)
    shown = [_to_display(pred_3d)]
    heading = title
    if gt_3d is not None:
        draw_skeleton_3d(ax3, gt_3d, sk, colour=GT_COLOUR, linestyle='--',
                         linewidth=1.5, marker_size=2.0, setup_axes=False)
        shown.append(_to_display(gt_3d))
        if heading is None and units in _TO_MM:
            err = np.linalg.norm(pred_3d - gt_3d, axis=-1).mean()
            heading = f'MPJPE {err * _TO_MM[units]:.1f} mm'
    _set_equal_3d(ax3, shown, units)
    ax3.set_title('3D prediction (camera frame)')
    if heading:
        fig.suptitle(heading)
    fig.legend(handles=_legend_handles(gt_3d is not None),
               loc='lower center', ncol=4, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.14, top=0.86,
                        wspace=0.15)
    _save_figure(fig, path, dpi)
    return path


def check_animation_path(path: PathLike) -> Path:
    """Raise now, before any work, if an animation cannot go to ``path``:
    a suffix other than ``.gif`` / ``.mp4``, a missing directory, or an
    ``.mp4`` without ffmpeg on the PATH."""
    path = _check_target(path, ('.gif', '.mp4'))
    if path.suffix.lower() == '.mp4' and \
            not animation.writers.is_available('ffmpeg'):
        raise ValueError(f"cannot write {path}: MP4 needs ffmpeg on the PATH "
                         f"and none was found; install ffmpeg or give a "
                         f".gif path")
    return path


def _animation_writer(path: Path, fps: float):
    if path.suffix.lower() == '.gif':
        return animation.PillowWriter(fps=fps)
    return animation.FFMpegWriter(fps=fps)


def save_pose_animation(path: PathLike, inputs_2d: np.ndarray,
                        preds_3d: np.ndarray, fps: float = 25.0,
                        skeleton: Optional[Skeleton] = None,
                        image_size: Optional[Sequence[float]] = None,
                        title: Optional[str] = None, units: str = 'm',
                        input_units: str = 'px', max_frames: int = 300,
                        dpi: int = 72) -> Path:
    """An animated GIF (or MP4 with ffmpeg) of a whole sequence.

    The axes keep the same limits for every frame (fitted to the whole
    sequence) so the motion is visible rather than re-centred away.
    Pillow holds every GIF frame in memory (about 0.6 MB each at the
    default size), so a sequence longer than ``max_frames`` is shown with
    every k-th frame and the frame rate divided by k: same duration,
    bounded memory and time (about 0.1 s per rendered frame).

    Args:
        path: ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg; a clear error
            without it).
        inputs_2d: ``[F, J, 2]`` image coordinates (``input_units``).
        preds_3d: ``[F, J, 3]`` camera frame, root-relative (``units``).
        fps: frames per second of the input sequence (> 0).
        image_size: ``(w, h)`` to frame the 2D panel like the image.
        max_frames: most frames to render (>= 1).

    Returns:
        The path written.
    """
    path = check_animation_path(path)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        fps = float('nan')
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"'fps' must be a positive number, got {fps!r}")
    if not (isinstance(max_frames, int) and max_frames >= 1):
        raise ValueError(f"'max_frames' must be an int >= 1, got "
                         f"{max_frames!r}")
    inputs_2d = _as_poses(inputs_2d, 'inputs_2d', 2, frames=True)
    preds_3d = _as_poses(preds_3d, 'preds_3d', 3, frames=True)
    if inputs_2d.shape[:2] != preds_3d.shape[:2]:
        raise ValueError(f"'inputs_2d' {inputs_2d.shape} and 'preds_3d' "
                         f"{preds_3d.shape} must have the same frames and "
                         f"joints")
    sk = _skeleton_for(preds_3d, skeleton, 'preds_3d')
    total = preds_3d.shape[0]
    step = -(-total // max_frames)  # ceil
    writer = _animation_writer(path, fps / step)

    fig = _new_figure(8, 4)
    ax2, ax3 = _pose_axes(fig, image_size, input_units)
    lines2 = draw_skeleton_2d(ax2, inputs_2d[0], sk, setup_axes=False)
    if image_size is None:
        _fit_2d(ax2, inputs_2d)
    lines3 = draw_skeleton_3d(ax3, preds_3d[0], sk, setup_axes=False)
    _set_equal_3d(ax3, [_to_display(preds_3d)], units)
    ax3.set_title('3D prediction (camera frame)')
    label = fig.suptitle('')
    fig.legend(handles=_legend_handles(False), loc='lower center', ncol=3,
               frameon=False)
    fig.subplots_adjust(left=0.09, right=0.97, bottom=0.16, top=0.86,
                        wspace=0.15)
    # The writers want a file name: render into a private directory, then
    # move the finished bytes into place. One draw per frame (FuncAnimation
    # would draw each frame twice on an Agg canvas).
    with tempfile.TemporaryDirectory() as tmp:
        tmp_file = Path(tmp) / f'animation{path.suffix.lower()}'
        with writer.saving(fig, str(tmp_file), dpi):
            for i in range(0, total, step):
                _update_lines(lines2, inputs_2d[i], sk, is_3d=False)
                _update_lines(lines3, preds_3d[i], sk, is_3d=True)
                label.set_text(f"{title + '  ' if title else ''}"
                               f"frame {i + 1}/{total}")
                writer.grab_frame()
        atomic_write(path, tmp_file.read_bytes())
    return path


def _read_log(log: Union[PathLike, Sequence[Mapping[str, Any]]]
              ) -> List[Mapping[str, Any]]:
    if isinstance(log, (str, os.PathLike)):
        log_path = Path(log)
        if not log_path.is_file():
            raise FileNotFoundError(f"training log {log_path} does not exist")
        with open(log_path, newline='') as handle:
            rows = list(csv.DictReader(handle))
        source = str(log_path)
    else:
        rows, source = list(log), 'the given rows'
    if not rows:
        raise ValueError(f"training log {source} has no rows")
    return rows


def _column(rows: List[Mapping[str, Any]], names: Sequence[str],
            required: bool) -> Tuple[Optional[str], Optional[np.ndarray]]:
    """The first column of ``names`` present, as floats (blank -> NaN)."""
    for name in names:
        if name in rows[0]:
            values = []
            for row in rows:
                value = row.get(name)
                try:
                    values.append(float(value) if value not in (None, '')
                                  else np.nan)
                except (TypeError, ValueError):
                    raise ValueError(f"training log column {name!r} holds "
                                     f"{value!r}, not a number") from None
            return name, np.asarray(values)
    if required:
        raise ValueError(f"training log needs one of the columns "
                         f"{', '.join(names)}; found "
                         f"{', '.join(rows[0]) or 'none'}")
    return None, None


def save_training_curves(path: PathLike,
                         log: Union[PathLike, Sequence[Mapping[str, Any]]],
                         dpi: int = 100) -> Path:
    """Training loss and held-out MPJPE per epoch, side by side (the loss
    alone when the log has no MPJPE column).

    Args:
        path: image file to write (``.png``, ``.pdf``, ``.svg``).
        log: the CSV written by training (``epoch``, ``train_loss`` [,
            ``val_mpjpe_mm``, ``val_p_mpjpe_mm``]) or the same rows as
            dicts; ``test_mpjpe_mm`` / ``test_p_mpjpe_mm`` are accepted too.
            MPJPE is expected in mm.

    Returns:
        The path written.
    """
    path = _check_target(path, _IMAGE_SUFFIXES)
    rows = _read_log(log)
    _, loss = _column(rows, LOSS_COLUMNS, required=True)
    mpjpe_name, mpjpe = _column(rows, MPJPE_COLUMNS, required=False)
    _, p_mpjpe = _column(rows, P_MPJPE_COLUMNS, required=False)
    _, epoch = _column(rows, ('epoch',), required=False)
    if epoch is None:
        epoch = np.arange(1, len(rows) + 1, dtype=np.float64)

    fig = _new_figure(10 if mpjpe is not None else 5, 4)
    ax_loss = fig.add_subplot(1, 2 if mpjpe is not None else 1, 1)
    ax_loss.plot(epoch, loss, marker='o', ms=3, color=LEFT_COLOUR)
    if np.nanmin(loss) > 0:  # a loss spans decades: log scale shows them
        ax_loss.set_yscale('log')
    ax_loss.set(title='training loss (eq. 11)', xlabel='epoch', ylabel='loss')
    ax_loss.grid(alpha=0.3)
    if mpjpe is None:
        fig.tight_layout()
        _save_figure(fig, path, dpi)
        return path
    ax_err = fig.add_subplot(1, 2, 2)
    ax_err.plot(epoch, mpjpe, marker='o', ms=3, color=RIGHT_COLOUR,
                label='MPJPE')
    if p_mpjpe is not None:
        ax_err.plot(epoch, p_mpjpe, marker='s', ms=3, color=CENTRE_COLOUR,
                    label='P-MPJPE')
    if np.isfinite(mpjpe).any():
        best = int(np.nanargmin(mpjpe))
        ax_err.plot(epoch[best], mpjpe[best], marker='*', ms=12,
                    color='gold', mec='black', ls='none',
                    label=f'best {mpjpe[best]:.1f} mm (epoch '
                          f'{epoch[best]:g})')
    split = 'validation' if mpjpe_name.startswith('val') else 'held-out'
    ax_err.set(title=f'{split} error', xlabel='epoch', ylabel='error (mm)')
    ax_err.legend()
    ax_err.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path, dpi)
    return path


def save_error_per_joint(path: PathLike, errors: np.ndarray,
                         skeleton: Optional[Skeleton] = None,
                         units: str = 'mm', title: Optional[str] = None,
                         dpi: int = 100) -> Path:
    """Horizontal bars of the mean error of every joint, coloured by side.

    Args:
        path: image file to write.
        errors: ``[J]`` mean error per joint (e.g.
            ``metrics.joint_errors(pred, gt).reshape(-1, J).mean(0)``).
        skeleton: defaults to the H36M skeleton with ``J`` joints.
        units: unit of ``errors`` for the axis label.

    Returns:
        The path written.
    """
    path = _check_target(path, _IMAGE_SUFFIXES)
    err = np.asarray(errors, dtype=np.float64)
    if err.ndim != 1 or err.size == 0:
        raise ValueError(f"'errors' must have shape [J], got {err.shape}")
    if not np.isfinite(err).all():
        raise ValueError("'errors' holds NaN or inf")
    sk = skeleton if skeleton is not None else get_skeleton(err.size)
    if err.size != sk.num_joints:
        raise ValueError(f"'errors' has {err.size} values but the skeleton "
                         f"has {sk.num_joints} joints")

    fig = _new_figure(7, 0.3 * sk.num_joints + 1.5)
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(sk.num_joints)
    ax.barh(pos, err, color=_joint_colours(sk))
    ax.set_yticks(pos, [n.replace('_', ' ') for n in sk.names])
    ax.invert_yaxis()  # joint 0 at the top, in skeleton order
    ax.axvline(err.mean(), color='black', ls='--', lw=1,
               label=f'mean of the joints {err.mean():.1f} {units}')
    ax.set_xlabel(f'mean error ({units})')
    ax.set_title(title or 'error per joint')
    ax.legend(loc='lower right')
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path, dpi)
    return path

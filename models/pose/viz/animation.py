"""An animation of a whole sequence: its 2D input beside the 3D poses,
as a GIF (Pillow) or an MP4 (ffmpeg). Rendered off-screen in a private
temporary directory, then moved into place atomically."""
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import matplotlib
import numpy as np
from matplotlib import animation

from models.common.files import atomic_write
from models.pose.data.skeleton import Skeleton
from models.pose.viz.drawing import (
    PathLike,
    as_poses,
    check_target,
    draw_skeleton_2d,
    draw_skeleton_3d,
    fit_2d,
    legend_handles,
    new_figure,
    pose_axes,
    set_equal_3d,
    skeleton_for,
    to_display,
    update_lines,
)


def check_animation_path(path: PathLike) -> Path:
    """Raise now, before any work, if an animation cannot go to ``path``:
    a suffix other than ``.gif`` / ``.mp4``, a missing directory, or an
    ``.mp4`` without ffmpeg on the PATH."""
    path = check_target(path, ('.gif', '.mp4'))
    if path.suffix.lower() == '.mp4' and not ffmpeg_available():
        raise ValueError(f"cannot write {path}: MP4 needs ffmpeg (on the "
                         f"PATH, or pip install imageio-ffmpeg) and none "
                         f"was found; install one or give a .gif path")
    return path


def ffmpeg_available() -> bool:
    """Whether matplotlib can run ffmpeg: the one on the PATH, else the
    binary inside the ``imageio-ffmpeg`` wheel (the ``pose`` extra
    installs it, so MP4 works without a system ffmpeg)."""
    if animation.writers.is_available('ffmpeg'):
        return True
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):  # not installed / no binary
        return False
    # matplotlib looks the writer's binary up in rcParams on every use
    matplotlib.rcParams['animation.ffmpeg_path'] = exe
    return animation.writers.is_available('ffmpeg')


def _animation_writer(path: Path, fps: float):
    if path.suffix.lower() == '.gif':
        return animation.PillowWriter(fps=fps)
    return animation.FFMpegWriter(fps=fps)


def _check_fps(fps) -> float:
    """``fps`` as a positive finite float, or a ValueError."""
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        fps = float('nan')
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"'fps' must be a positive number, got {fps!r}")
    return fps


def _animation_figure(inputs_2d: np.ndarray, preds_3d: np.ndarray,
                      sk: Skeleton, image_size: Optional[Sequence[float]],
                      units: str, input_units: str):
    """``(figure, 2D lines, 3D lines, frame label)`` showing the first
    frame, the axes fitted to the whole sequence."""
    fig = new_figure(8, 4)
    ax2, ax3 = pose_axes(fig, image_size, input_units)
    lines2 = draw_skeleton_2d(ax2, inputs_2d[0], sk, setup_axes=False)
    if image_size is None:
        fit_2d(ax2, inputs_2d)
    lines3 = draw_skeleton_3d(ax3, preds_3d[0], sk, setup_axes=False)
    set_equal_3d(ax3, [to_display(preds_3d)], units)
    ax3.set_title('3D prediction (camera frame)')
    label = fig.suptitle('')
    fig.legend(handles=legend_handles(False), loc='lower center', ncol=3,
               frameon=False)
    fig.subplots_adjust(left=0.09, right=0.97, bottom=0.16, top=0.86,
                        wspace=0.15)
    return fig, lines2, lines3, label


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
    fps = _check_fps(fps)
    if not (isinstance(max_frames, int) and max_frames >= 1):
        raise ValueError(f"'max_frames' must be an int >= 1, got "
                         f"{max_frames!r}")
    inputs_2d = as_poses(inputs_2d, 'inputs_2d', 2, frames=True)
    preds_3d = as_poses(preds_3d, 'preds_3d', 3, frames=True)
    if inputs_2d.shape[:2] != preds_3d.shape[:2]:
        raise ValueError(f"'inputs_2d' {inputs_2d.shape} and 'preds_3d' "
                         f"{preds_3d.shape} must have the same frames and "
                         f"joints")
    sk = skeleton_for(preds_3d, skeleton, 'preds_3d')
    total = preds_3d.shape[0]
    step = -(-total // max_frames)  # ceil
    writer = _animation_writer(path, fps / step)
    fig, lines2, lines3, label = _animation_figure(
        inputs_2d, preds_3d, sk, image_size, units, input_units)
    # The writers want a file name: render into a private directory, then
    # move the finished bytes into place. One draw per frame (FuncAnimation
    # would draw each frame twice on an Agg canvas).
    with tempfile.TemporaryDirectory() as tmp:
        tmp_file = Path(tmp) / f'animation{path.suffix.lower()}'
        with writer.saving(fig, str(tmp_file), dpi):
            for i in range(0, total, step):
                update_lines(lines2, inputs_2d[i], sk, is_3d=False)
                update_lines(lines3, preds_3d[i], sk, is_3d=True)
                label.set_text(f"{title + '  ' if title else ''}"
                               f"frame {i + 1}/{total}")
                writer.grab_frame()
        atomic_write(path, tmp_file.read_bytes())
    return path

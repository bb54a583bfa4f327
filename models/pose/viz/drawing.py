"""What every figure of :mod:`models.pose.viz` shares: colours, the
checks of poses and target paths, off-screen figures saved atomically, and
skeletons drawn on 2D and 3D axes.

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
import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers '3d')

from models.common.files import save_figure_atomic
from models.pose.data.skeleton import Skeleton, get_skeleton

PathLike = Union[str, os.PathLike]

LEFT_COLOUR = '#1f77b4'
RIGHT_COLOUR = '#d62728'
CENTRE_COLOUR = '#555555'
GT_COLOUR = '#2ca02c'
#: View of the 3D axes (degrees): a little above and to the camera's left.
VIEW_ELEV, VIEW_AZIM = 15.0, -75.0

def skeleton_for(joints: np.ndarray, skeleton: Optional[Skeleton],
                  name: str) -> Skeleton:
    sk = skeleton if skeleton is not None else get_skeleton(joints.shape[-2])
    if joints.shape[-2] != sk.num_joints:
        raise ValueError(f"'{name}' has {joints.shape[-2]} joints but the "
                         f"skeleton has {sk.num_joints} joints")
    return sk


def as_poses(array: Any, name: str, dims: int, frames: bool = False
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


def to_display(joints_cam: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> display (x, depth, up)."""
    return np.stack([joints_cam[..., 0], joints_cam[..., 2],
                     -joints_cam[..., 1]], axis=-1)


def bone_colours(skeleton: Skeleton) -> List[str]:
    """One colour per bone of ``skeleton.edges``, by the child joint's side
    (a shoulder's bone to the thorax belongs to that arm)."""
    left, right = set(skeleton.left), set(skeleton.right)
    return [LEFT_COLOUR if c in left else RIGHT_COLOUR if c in right
            else CENTRE_COLOUR for c in skeleton.edges[1]]


def joint_colours(skeleton: Skeleton) -> List[str]:
    left, right = set(skeleton.left), set(skeleton.right)
    return [LEFT_COLOUR if j in left else RIGHT_COLOUR if j in right
            else CENTRE_COLOUR for j in range(skeleton.num_joints)]


def check_target(path: PathLike, suffixes: Sequence[str]) -> Path:
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


IMAGE_SUFFIXES = ('.png', '.pdf', '.svg', '.jpg', '.jpeg')
TO_MM = {'m': 1000.0, 'mm': 1.0}


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path, dpi: int) -> None:
    """Render to memory, then write atomically."""
    save_figure_atomic(fig, path, dpi=dpi)


def legend_handles(with_gt: bool) -> List[Line2D]:
    handles = [Line2D([], [], color=LEFT_COLOUR, lw=2, label='left'),
               Line2D([], [], color=RIGHT_COLOUR, lw=2, label='right'),
               Line2D([], [], color=CENTRE_COLOUR, lw=2, label='centre')]
    if with_gt:
        handles.append(Line2D([], [], color=GT_COLOUR, lw=1.5, ls='--',
                              label='ground truth'))
    return handles


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
    joints = as_poses(joints, 'joints', 2)
    sk = skeleton_for(joints, skeleton, 'joints')
    colours = bone_colours(sk) if colour is None else \
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


def set_equal_3d(ax, poses_display: Sequence[np.ndarray],
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
    joints = as_poses(joints, 'joints', 3)
    sk = skeleton_for(joints, skeleton, 'joints')
    disp = to_display(joints)
    colours = bone_colours(sk) if colour is None else \
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
        set_equal_3d(ax, [disp], units)
    return lines


def update_lines(lines: List[Line2D], joints: np.ndarray, sk: Skeleton,
                  is_3d: bool) -> None:
    """Move lines made by ``draw_skeleton_*`` to a new pose."""
    pts = to_display(joints) if is_3d else joints
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


def pose_axes(fig: Figure, image_size: Optional[Sequence[float]],
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


def fit_2d(ax, points: np.ndarray) -> None:
    """Equal-aspect limits around ``points`` [..., 2], y down."""
    pts = points.reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    radius = max(float((hi - lo).max()) / 2 * 1.1, 1e-6)
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[1] + radius, centre[1] - radius)
    ax.set_aspect('equal', adjustable='box')

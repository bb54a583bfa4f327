"""Still figures: one frame's 2D input beside its 3D pose
(:func:`save_pose_figure`) and the mean error per joint
(:func:`save_error_per_joint`). Rendered off-screen and written atomically
(:mod:`models.pose.viz.drawing`)."""
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from models.pose.data.skeleton import Skeleton, get_skeleton
from models.pose.viz.drawing import (
    GT_COLOUR,
    IMAGE_SUFFIXES,
    TO_MM,
    PathLike,
    as_poses,
    check_target,
    draw_skeleton_2d,
    draw_skeleton_3d,
    fit_2d,
    joint_colours,
    legend_handles,
    new_figure,
    pose_axes,
    save_figure,
    set_equal_3d,
    skeleton_for,
    to_display,
)


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
    path = check_target(path, IMAGE_SUFFIXES)
    input_2d = as_poses(input_2d, 'input_2d', 2)
    pred_3d = as_poses(pred_3d, 'pred_3d', 3)
    sk = skeleton_for(pred_3d, skeleton, 'pred_3d')
    skeleton_for(input_2d, sk, 'input_2d')
    if gt_3d is not None:
        gt_3d = as_poses(gt_3d, 'gt_3d', 3)
        skeleton_for(gt_3d, sk, 'gt_3d')

    fig = new_figure(10, 5)
    ax2, ax3 = pose_axes(fig, image_size, input_units)
    draw_skeleton_2d(ax2, input_2d, sk, setup_axes=False)
    if image_size is None:
        fit_2d(ax2, input_2d)
    draw_skeleton_3d(ax3, pred_3d, sk, setup_axes=False)
    shown = [to_display(pred_3d)]
    heading = title
    if gt_3d is not None:
        draw_skeleton_3d(ax3, gt_3d, sk, colour=GT_COLOUR, linestyle='--',
                         linewidth=1.5, marker_size=2.0, setup_axes=False)
        shown.append(to_display(gt_3d))
        if heading is None and units in TO_MM:
            err = np.linalg.norm(pred_3d - gt_3d, axis=-1).mean()
            heading = f'MPJPE {err * TO_MM[units]:.1f} mm'
    set_equal_3d(ax3, shown, units)
    ax3.set_title('3D prediction (camera frame)')
    if heading:
        fig.suptitle(heading)
    fig.legend(handles=legend_handles(gt_3d is not None),
               loc='lower center', ncol=4, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.14, top=0.86,
                        wspace=0.15)
    save_figure(fig, path, dpi)
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
    path = check_target(path, IMAGE_SUFFIXES)
    err = np.asarray(errors, dtype=np.float64)
    if err.ndim != 1 or err.size == 0:
        raise ValueError(f"'errors' must have shape [J], got {err.shape}")
    if not np.isfinite(err).all():
        raise ValueError("'errors' holds NaN or inf")
    sk = skeleton if skeleton is not None else get_skeleton(err.size)
    if err.size != sk.num_joints:
        raise ValueError(f"'errors' has {err.size} values but the skeleton "
                         f"has {sk.num_joints} joints")

    fig = new_figure(7, 0.3 * sk.num_joints + 1.5)
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(sk.num_joints)
    ax.barh(pos, err, color=joint_colours(sk))
    ax.set_yticks(pos, [n.replace('_', ' ') for n in sk.names])
    ax.invert_yaxis()  # joint 0 at the top, in skeleton order
    ax.axvline(err.mean(), color='black', ls='--', lw=1,
               label=f'mean of the joints {err.mean():.1f} {units}')
    ax.set_xlabel(f'mean error ({units})')
    ax.set_title(title or 'error per joint')
    ax.legend(loc='lower right')
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return path

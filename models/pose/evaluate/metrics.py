"""Pose metrics of the field (MPJPE, P-MPJPE, N-MPJPE, PCK, AUC) as small
pure functions. The per-action protocol of Human3.6M is in
:mod:`models.pose.evaluate.per_action`, the result tables in
:mod:`models.pose.evaluate.tables`
and the training loss in :mod:`models.pose.train.loss`.

Conventions shared by every function here:

* Poses are ``[..., J, C]`` arrays (``C`` = 3, or 2 for image-plane
  errors): any number of leading sample dimensions, joints on axis -2,
  coordinates on axis -1. ``pred`` and ``target`` must have the same shape;
  nothing is broadcast, so a transposed or mis-batched input fails loudly
  instead of producing a plausible number.
* Errors come back in the unit of the input: metres in, metres out; mm in,
  mm out. Only PCK and AUC compare against fixed millimetre thresholds, so
  they take ``units='mm'`` or ``units='m'`` to say which the input is.
* numpy inputs give numpy results (computed in float64); torch inputs give
  torch results in the input's dtype and device (``mpjpe`` and ``n_mpjpe``
  stay differentiable). With one of each, the numpy one is converted to
  the tensor's dtype and device.
* ``reduction='none'`` returns one value per sample, shape
  ``pred.shape[:-2]``; ``reduction='mean'`` the mean over all samples as a
  scalar (a Python float for numpy inputs). The errors (MPJPE and its
  aligned forms) default to ``'none'``, since the per-action protocol
  needs per-sample errors; PCK and AUC default to ``'mean'``, since the
  3DHP protocol pools all joints of all samples.
"""
import math
from typing import Sequence, Tuple, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

#: Thresholds (mm) of the MPI-INF-3DHP AUC: 0, 5, ..., 150.
AUC_THRESHOLDS_MM = tuple(range(0, 151, 5))
_REDUCTIONS = ('none', 'mean')
_UNIT_TO_MM = {'mm': 1.0, 'm': 1000.0}


# --------------------------------------------------------------------------
# input handling


def _to_tensors(pred: Array, target: Array
                ) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    """Both inputs as tensors of one float dtype; also whether the caller
    gave only numpy (so the result goes back as numpy)."""
    as_numpy = not (isinstance(pred, torch.Tensor) or
                    isinstance(target, torch.Tensor))
    if as_numpy:
        return (torch.from_numpy(np.asarray(pred, dtype=np.float64)),
                torch.from_numpy(np.asarray(target, dtype=np.float64)), True)
    ref = pred if isinstance(pred, torch.Tensor) else target
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    p = torch.as_tensor(pred, dtype=dtype, device=ref.device)
    t = torch.as_tensor(target, dtype=dtype, device=ref.device)
    return p, t, False


def check_poses(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    """Refuse anything but two ``[..., J, 3]`` (or ``[..., J, 2]``) poses of
    one shape, with an error that names the function ``name``."""
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3) or pred.shape[-2] < 1:
        raise ValueError(f"{name}: 'pred' must have shape [..., J, 3] (or "
                         f"[..., J, 2]), got {tuple(pred.shape)}")
    if target.shape != pred.shape:
        raise ValueError(f"{name}: 'target' must have the shape of 'pred' "
                         f"{tuple(pred.shape)}, got {tuple(target.shape)}")


def _prepare(pred: Array, target: Array, name: str
             ) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    p, t, as_numpy = _to_tensors(pred, target)
    check_poses(p, t, name)
    return p, t, as_numpy


def _reduce(values: torch.Tensor, reduction: str, as_numpy: bool, name: str):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: 'reduction' must be one of {_REDUCTIONS}, "
                         f"got {reduction!r}")
    if reduction == 'mean':
        values = values.mean()
    if as_numpy:
        out = values.detach().cpu().numpy()
        return float(out) if reduction == 'mean' else out
    return values


def _unit_factor(units: str, name: str) -> float:
    if units not in _UNIT_TO_MM:
        raise ValueError(f"{name}: 'units' must be 'mm' or 'm' (the unit of "
                         f"pred and target), got {units!r}")
    return _UNIT_TO_MM[units]


# --------------------------------------------------------------------------
# alignments


def procrustes_align(pred: Array, target: Array) -> Array:
    """``pred`` moved onto ``target`` by the best similarity transform.

    Per sample, finds the rotation R, uniform scale s and translation t that
    minimise ``sum_j |s * pred_j @ R + t - target_j|^2`` (Umeyama / Kabsch
    with scale, batched SVD). A reflection is never allowed: when the best
    orthogonal matrix has determinant -1, the axis of the smallest singular
    value is flipped back, so mirrored left/right limbs stay an error.

    Args:
        pred, target: ``[..., J, C]``, same shape, any length unit.

    Returns:
        The aligned prediction, ``[..., J, C]``, in the unit of ``target``.
    """
    p, t, as_numpy = _prepare(pred, target, 'procrustes_align')
    mu_p = p.mean(dim=-2, keepdim=True)
    mu_t = t.mean(dim=-2, keepdim=True)
    p0, t0 = p - mu_p, t - mu_t
    u, sing, vh = torch.linalg.svd(p0.transpose(-1, -2) @ t0)
    # det(U V^T) is +-1; -1 means the optimum is a reflection.
    flip = torch.where(torch.linalg.det(u @ vh) < 0, -1.0, 1.0).to(p.dtype)
    signs = torch.ones_like(sing)
    signs[..., -1] = flip
    rotation = (u * signs.unsqueeze(-2)) @ vh
    # tiny, not eps: a legitimately small pose must not be biased, and an
    # all-zero prediction must give scale 0 rather than NaN.
    norm = (p0 ** 2).sum(dim=(-1, -2)).clamp_min(torch.finfo(p.dtype).tiny)
    scale = (sing * signs).sum(dim=-1) / norm
    aligned = scale[..., None, None] * (p0 @ rotation) + mu_t
    return aligned.numpy() if as_numpy else aligned


def scale_align(pred: Array, target: Array) -> Array:
    """``pred`` times the scale that best fits it to ``target``.

    ``s = <pred, target> / <pred, pred>`` per sample (inner products over
    all joints and coordinates): the least-squares scale about the origin.
    No translation: the poses are assumed root-relative already, as in
    the N-MPJPE protocol. An all-zero prediction stays zero.

    Args:
        pred, target: ``[..., J, C]``, same shape, any length unit.

    Returns:
        ``[..., J, C]`` scaled prediction.
    """
    p, t, as_numpy = _prepare(pred, target, 'scale_align')
    dot = (p * t).sum(dim=(-1, -2))
    norm = (p * p).sum(dim=(-1, -2)).clamp_min(torch.finfo(p.dtype).tiny)
    aligned = (dot / norm)[..., None, None] * p
    return aligned.numpy() if as_numpy else aligned


# --------------------------------------------------------------------------
# errors


def joint_errors(pred: Array, target: Array) -> Array:
    """Euclidean distance per joint, ``[..., J]``, in the input's unit.

    The building block of every metric below; also what a per-joint error
    plot needs (average it over the samples).
    """
    p, t, as_numpy = _prepare(pred, target, 'joint_errors')
    dist = torch.linalg.vector_norm(p - t, dim=-1)
    return dist.detach().cpu().numpy() if as_numpy else dist


def mpjpe(pred: Array, target: Array, reduction: str = 'none') -> Array:
    """Mean per-joint position error (protocol #1).

    Args:
        pred, target: ``[..., J, C]``, same shape; mm in gives mm out.
        reduction: ``'none'``: one error per sample, ``pred.shape[:-2]``;
            ``'mean'``: their mean as a scalar.
    """
    p, t, as_numpy = _prepare(pred, target, 'mpjpe')
    err = torch.linalg.vector_norm(p - t, dim=-1).mean(dim=-1)
    return _reduce(err, reduction, as_numpy, 'mpjpe')


def p_mpjpe(pred: Array, target: Array, reduction: str = 'none') -> Array:
    """MPJPE after similarity Procrustes alignment (protocol #2).

    Rotation, translation and uniform scale are fitted per sample (see
    :func:`procrustes_align`), so only the pose's shape is judged. Meant for
    evaluation: its gradient through the SVD is unstable for degenerate
    poses.

    Args:
        pred, target: ``[..., J, C]``, same shape; mm in gives mm out.
        reduction: ``'none'`` (per sample) or ``'mean'``.
    """
    p, t, as_numpy = _prepare(pred, target, 'p_mpjpe')
    aligned = procrustes_align(p.detach(), t.detach())
    err = torch.linalg.vector_norm(aligned - t, dim=-1).mean(dim=-1)
    return _reduce(err, reduction, as_numpy, 'p_mpjpe')


def n_mpjpe(pred: Array, target: Array, reduction: str = 'none') -> Array:
    """MPJPE after the best per-sample scale (scale-only alignment).

    Removes only the monocular depth/size ambiguity: orientation and
    position errors still count (inputs are taken as root-relative).

    Args:
        pred, target: ``[..., J, C]``, same shape; mm in gives mm out.
        reduction: ``'none'`` (per sample) or ``'mean'``.
    """
    p, t, as_numpy = _prepare(pred, target, 'n_mpjpe')
    aligned = scale_align(p, t)
    err = torch.linalg.vector_norm(aligned - t, dim=-1).mean(dim=-1)
    return _reduce(err, reduction, as_numpy, 'n_mpjpe')


def pck(pred: Array, target: Array, threshold_mm: float = 150.0,
        units: str = 'mm', reduction: str = 'mean') -> Array:
    """Percentage of correct keypoints (MPI-INF-3DHP, in %).

    A joint is correct when its error is strictly below the threshold, as
    in the 3DHP evaluation code; so PCK at 0 mm is always 0. All ``J``
    joints count (the lifting papers' practice), not the 14 "relevant"
    joints of the original 3DHP MATLAB scripts.

    Args:
        pred, target: ``[..., J, 3]``, same shape, in ``units``.
        threshold_mm: the threshold, always in millimetres.
        units: ``'mm'`` or ``'m'``: the unit of ``pred`` and ``target``.
        reduction: ``'mean'`` (default): % over all joints of all samples;
            ``'none'``: % per sample.
    """
    if not math.isfinite(threshold_mm) or threshold_mm < 0:
        raise ValueError(f"pck: 'threshold_mm' must be a finite number >= 0, "
                         f"got {threshold_mm!r}")
    factor = _unit_factor(units, 'pck')
    p, t, as_numpy = _prepare(pred, target, 'pck')
    dist_mm = torch.linalg.vector_norm(p - t, dim=-1) * factor
    share = (dist_mm < threshold_mm).to(p.dtype).mean(dim=-1) * 100.0
    return _reduce(share, reduction, as_numpy, 'pck')


def auc(pred: Array, target: Array,
        thresholds_mm: Sequence[float] = AUC_THRESHOLDS_MM,
        units: str = 'mm', reduction: str = 'mean') -> Array:
    """Area under the PCK curve (MPI-INF-3DHP, in %).

    The PCK (strict ``<``, as :func:`pck`) averaged over the thresholds
    0, 5, ..., 150 mm: the area under the PCK curve normalised by its
    width. PCK at 0 mm is always 0, so a perfect prediction scores
    30 / 31 = 96.8 % with the default thresholds, as in the 3DHP protocol.

    Args:
        pred, target: ``[..., J, 3]``, same shape, in ``units``.
        thresholds_mm: thresholds in millimetres (non-empty, finite, >= 0).
        units: ``'mm'`` or ``'m'``: the unit of ``pred`` and ``target``.
        reduction: ``'mean'`` (default, pooled) or ``'none'`` (per sample).
    """
    thr = np.asarray(thresholds_mm, dtype=np.float64)
    if thr.ndim != 1 or thr.size == 0 or not np.isfinite(thr).all() \
            or (thr < 0).any():
        raise ValueError(f"auc: 'thresholds_mm' must be a non-empty 1-D list "
                         f"of finite numbers >= 0, got {thresholds_mm!r}")
    factor = _unit_factor(units, 'auc')
    p, t, as_numpy = _prepare(pred, target, 'auc')
    dist_mm = torch.linalg.vector_norm(p - t, dim=-1) * factor
    thr_t = torch.as_tensor(thr, dtype=p.dtype, device=p.device)
    correct = (dist_mm[..., None] < thr_t).to(p.dtype)  # [..., J, K]
    share = correct.mean(dim=(-1, -2)) * 100.0
    return _reduce(share, reduction, as_numpy, 'auc')

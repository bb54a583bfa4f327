"""Pose metrics of the field (MPJPE, P-MPJPE, N-MPJPE, PCK, AUC), the
per-action protocol of Human3.6M, result tables, and the paper's loss.

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
* Results of a whole evaluation are a dict ``{'per_action': {action:
  {metric: value}}, 'average': {metric: value}, ...}`` (see
  :func:`per_action_results`); the table formatters print that form.
"""
import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

#: The 15 Human3.6M actions in the order of the field's result tables.
H36M_ACTIONS = ('Directions', 'Discussion', 'Eating', 'Greeting', 'Phoning',
                'Photo', 'Posing', 'Purchases', 'Sitting', 'SittingDown',
                'Smoking', 'Waiting', 'WalkDog', 'Walking', 'WalkTogether')
#: Spellings that Human3.6M uses for the same action in some subjects (S1).
ACTION_ALIASES = {'TakingPhoto': 'Photo', 'WalkingDog': 'WalkDog'}
#: Thresholds (mm) of the MPI-INF-3DHP AUC: 0, 5, ..., 150.
AUC_THRESHOLDS_MM = tuple(range(0, 151, 5))
#: Table columns: (key in a results dict, column title).
RESULT_COLUMNS = (('mpjpe', 'MPJPE'), ('p_mpjpe', 'P-MPJPE'),
                  ('n_mpjpe', 'N-MPJPE'))
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


def _check_poses(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3) or pred.shape[-2] < 1:
        raise ValueError(f"{name}: 'pred' must have shape [..., J, 3] (or "
                         f"[..., J, 2]), got {tuple(pred.shape)}")
    if target.shape != pred.shape:
        raise ValueError(f"{name}: 'target' must have the shape of 'pred' "
                         f"{tuple(pred.shape)}, got {tuple(target.shape)}")


def _prepare(pred: Array, target: Array, name: str
             ) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    p, t, as_numpy = _to_tensors(pred, target)
    _check_poses(p, t, name)
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


# --------------------------------------------------------------------------
# per-action protocol and tables


def action_name(name: str) -> str:
    """The base Human3.6M action of a sequence name.

    Trailing take numbers, spaces, dots, dashes and underscores are removed
    (``'Walking 1'`` -> ``'Walking'``, ``'SittingDown 2'`` ->
    ``'SittingDown'``), and S1's spellings are mapped to the others'
    (``'TakingPhoto'`` -> ``'Photo'``, ``'WalkingDog'`` -> ``'WalkDog'``), so
    every take of an action is averaged into one row.
    """
    if not isinstance(name, str):
        raise ValueError(f"action names must be strings, got {name!r}")
    base = re.sub(r'[\s._\-\d]+$', '', name.strip())
    if not base:
        raise ValueError(f"action name {name!r} has no letters before its "
                         f"take number")
    return ACTION_ALIASES.get(base, base)


def _action_order(names: Iterable[str]) -> List[str]:
    """Known H36M actions in table order, any others alphabetically."""
    names = set(names)
    known = [a for a in H36M_ACTIONS if a in names]
    return known + sorted(names - set(known))


def _as_1d_numpy(values: Array, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"mean_per_action: '{name}' must be 1-D [N] (one "
                         f"error per sample), got shape {arr.shape}")
    return arr


def mean_per_action(errors: Array, actions: Sequence[str]
                    ) -> Tuple[Dict[str, float], float]:
    """Mean error of every action and the field's average over actions.

    The average is the mean of the per-action means, not of all samples:
    every action weighs the same whatever its number of frames (the
    Human3.6M protocol of the published tables).

    Args:
        errors: ``[N]`` per-sample errors (any unit, e.g. ``mpjpe(...)``).
        actions: ``N`` sequence names; normalised with :func:`action_name`.

    Returns:
        ``({action: mean, ...}, average over actions)``, the actions in the
        order of the published tables.
    """
    err = _as_1d_numpy(errors, 'errors')
    names = [action_name(a) for a in actions]
    if len(names) != err.shape[0]:
        raise ValueError(f"mean_per_action: 'actions' has {len(names)} "
                         f"names but 'errors' has {err.shape[0]} values")
    if not names:
        raise ValueError("mean_per_action: no samples (empty 'errors')")
    labels, inverse = np.unique(np.asarray(names), return_inverse=True)
    sums = np.bincount(inverse, weights=err, minlength=len(labels))
    counts = np.bincount(inverse, minlength=len(labels))
    means = dict(zip(labels.tolist(), (sums / counts).tolist()))
    by_action = {a: means[a] for a in _action_order(means)}
    return by_action, float(np.mean(list(by_action.values())))


def per_action_results(metrics: Mapping[str, Array], actions: Sequence[str]
                       ) -> Dict[str, Dict]:
    """Several metrics through :func:`mean_per_action` at once.

    Args:
        metrics: ``{'mpjpe': [N], 'p_mpjpe': [N], ...}`` per-sample errors.
        actions: ``N`` sequence names.

    Returns:
        A dict with ``per_action`` (action -> metric -> mean) and
        ``average`` (metric -> mean over actions): the form that
        :func:`format_results_markdown` and :func:`format_results_table`
        print.
    """
    if not metrics:
        raise ValueError("per_action_results: 'metrics' is empty")
    per_action: Dict[str, Dict[str, float]] = {}
    average: Dict[str, float] = {}
    for name, errors in metrics.items():
        by_action, average[name] = mean_per_action(errors, actions)
        for action, value in by_action.items():
            per_action.setdefault(action, {})[name] = value
    return {'per_action': per_action, 'average': average}


def _cell(value: Any) -> str:
    """mm with one decimal; ``-`` for a missing or non-finite value."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return '-'
    return f'{value:.1f}' if math.isfinite(value) else '-'


def _table_rows(results: Mapping[str, Any],
                columns: Sequence[Tuple[str, str]]) -> List[List[str]]:
    """Cells (strings) of a results table: actions, then 'Average'."""
    per_action = results.get('per_action') \
        if isinstance(results, Mapping) else None
    if not isinstance(per_action, Mapping) or not per_action:
        raise ValueError("results must be a dict with a non-empty "
                         "'per_action' {action: {metric: value}} (and "
                         "optionally 'average' {metric: value}), as "
                         "per_action_results returns")
    rows = [[str(action)] + [_cell(row.get(k)) for k, _ in columns]
            for action, row in per_action.items()]
    average = results.get('average')
    if isinstance(average, Mapping):
        rows.append(['Average'] + [_cell(average.get(k)) for k, _ in columns])
    return rows


def _pooled_line(results: Mapping[str, Any]) -> str:
    """``PCK@150mm 86.8 %, AUC 54.4 %`` when the average holds them."""
    average = results.get('average')
    if not isinstance(average, Mapping):
        return ''
    parts = [f'{label} {_cell(average[key])} %'
             for key, label in (('pck150', 'PCK@150mm'), ('auc', 'AUC'))
             if key in average]
    return ', '.join(parts)


def format_results_markdown(
        results: Mapping[str, Any],
        columns: Sequence[Tuple[str, str]] = RESULT_COLUMNS) -> str:
    """A Markdown table: one row per action, then the bold average row.

    Args:
        results: ``{'per_action': {action: {'mpjpe': mm, 'p_mpjpe': mm,
            'n_mpjpe': mm}}, 'average': {...}}``; values in mm, a missing
            or NaN one prints as ``-``, other keys are ignored. PCK and
            AUC in the average (``'pck150'``, ``'auc'``, %) go in a line
            below the table.
        columns: ``(key, title)`` pairs of the metric columns.
    """
    rows = _table_rows(results, columns)
    head = ['Action'] + [f'{title} (mm)' for _, title in columns]
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' + '---:|' * len(columns)]
    last = len(rows) - 1 if isinstance(results.get('average'), Mapping) \
        else None
    for i, row in enumerate(rows):
        if i == last:
            row = [f'**{c}**' for c in row]
        lines.append('| ' + ' | '.join(row) + ' |')
    pooled = _pooled_line(results)
    if pooled:
        lines += ['', pooled]
    return '\n'.join(lines) + '\n'


def format_results_table(
        results: Mapping[str, Any],
        columns: Sequence[Tuple[str, str]] = RESULT_COLUMNS) -> str:
    """The same table as plain aligned text for a terminal (mm, 1 decimal),
    the average row below a rule."""
    rows = _table_rows(results, columns)
    head = ['Action'] + [f'{title} (mm)' for _, title in columns]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells: List[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return '  '.join([first] + rest)

    rule = '-' * len(line(head))
    out = [line(head), rule]
    last = len(rows) - 1 if isinstance(results.get('average'), Mapping) \
        else None
    for i, row in enumerate(rows):
        if i == last:
            out.append(rule)
        out.append(line(row))
    pooled = _pooled_line(results)
    if pooled:
        out.append(pooled)
    return '\n'.join(out) + '\n'


# --------------------------------------------------------------------------
# loss


def loss_eq11(pred: torch.Tensor, target: torch.Tensor,
              lam: float = 0.01) -> torch.Tensor:
    """The paper's training loss, eq. (11).

    ``(1 - lam) * mean_j |pred_j - target_j|_2^2 + lam * mean_j
    |pred_j - target_j|_1``, the means over joints and over every leading
    (batch) dimension. The squared term drives the bulk of the fit; the
    small L1 term keeps a gradient of constant size on joints that are
    already close, where the squared term's gradient vanishes.

    Args:
        pred, target: ``[..., J, 3]`` tensors, same shape (metres in the
            training code, so the loss is in m^2 and m).
        lam: lambda in [0, 1]; the paper uses 0.01.

    Returns:
        A scalar tensor (differentiable).
    """
    if not isinstance(pred, torch.Tensor) or \
            not isinstance(target, torch.Tensor):
        raise ValueError(f"loss_eq11: 'pred' and 'target' must be torch "
                         f"tensors, got {type(pred).__name__} and "
                         f"{type(target).__name__}")
    _check_poses(pred, target, 'loss_eq11')
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"loss_eq11: 'lam' must lie in [0, 1], got {lam!r}")
    diff = pred - target
    squared = diff.pow(2).sum(dim=-1).mean()
    absolute = diff.abs().sum(dim=-1).mean()
    return (1.0 - lam) * squared + lam * absolute

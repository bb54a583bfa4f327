"""The per-action protocol of Human3.6M: per-sample errors grouped by
action, averaged per action and then over actions.

The results of a whole evaluation are a dict ``{'per_action': {action:
{metric: value}}, 'average': {metric: value}, ...}`` (see
:func:`per_action_results`); :mod:`models.pose.evaluate.tables` prints that
form.
"""
import re
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
import torch

from models.pose.evaluate.metrics import Array

#: The 15 Human3.6M actions in the order of the field's result tables.
H36M_ACTIONS = ('Directions', 'Discussion', 'Eating', 'Greeting', 'Phoning',
                'Photo', 'Posing', 'Purchases', 'Sitting', 'SittingDown',
                'Smoking', 'Waiting', 'WalkDog', 'Walking', 'WalkTogether')
#: Spellings that Human3.6M uses for the same action in some subjects (S1).
ACTION_ALIASES = {'TakingPhoto': 'Photo', 'WalkingDog': 'WalkDog'}


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
        :func:`~models.pose.evaluate.tables.format_results_markdown` and
        :func:`~models.pose.evaluate.tables.format_results_table`
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

"""Training curves from the run's ``log.csv``: the loss and, when the log
has it, the held-out MPJPE per epoch."""
import csv
import os
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from models.pose.viz.drawing import (
    CENTRE_COLOUR,
    IMAGE_SUFFIXES,
    LEFT_COLOUR,
    RIGHT_COLOUR,
    PathLike,
    check_target,
    new_figure,
    save_figure,
)

#: Column names accepted for the training-curve plot, first match wins
#: (the training run writes ``train_loss``, and ``val_mpjpe_mm`` when it has a
#: validation split).
LOSS_COLUMNS = ('train_loss', 'loss')
MPJPE_COLUMNS = ('val_mpjpe_mm', 'test_mpjpe_mm', 'val_mpjpe', 'mpjpe')
P_MPJPE_COLUMNS = ('val_p_mpjpe_mm', 'test_p_mpjpe_mm', 'p_mpjpe')


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
    path = check_target(path, IMAGE_SUFFIXES)
    rows = _read_log(log)
    _, loss = _column(rows, LOSS_COLUMNS, required=True)
    mpjpe_name, mpjpe = _column(rows, MPJPE_COLUMNS, required=False)
    _, p_mpjpe = _column(rows, P_MPJPE_COLUMNS, required=False)
    _, epoch = _column(rows, ('epoch',), required=False)
    if epoch is None:
        epoch = np.arange(1, len(rows) + 1, dtype=np.float64)

    fig = new_figure(10 if mpjpe is not None else 5, 4)
    ax_loss = fig.add_subplot(1, 2 if mpjpe is not None else 1, 1)
    ax_loss.plot(epoch, loss, marker='o', ms=3, color=LEFT_COLOUR)
    if np.nanmin(loss) > 0:  # a loss spans decades: log scale shows them
        ax_loss.set_yscale('log')
    ax_loss.set(title='training loss (eq. 11)', xlabel='epoch', ylabel='loss')
    ax_loss.grid(alpha=0.3)
    if mpjpe is None:
        fig.tight_layout()
        save_figure(fig, path, dpi)
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
    save_figure(fig, path, dpi)
    return path

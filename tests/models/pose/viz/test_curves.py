"""Figures: curves (:mod:`models.pose.viz.curves`)."""
import csv

import pytest

from models.pose.viz import curves
from tests.models.pose.viz._figures import png_ok


def test_save_training_curves_from_csv_and_rows(tmp_path):
    rows = [{'epoch': e, 'train_loss': 1.0 / e, 'test_mpjpe_mm': 90 - e,
             'test_p_mpjpe_mm': 60 - e, 'lr': 1e-3} for e in range(1, 6)]
    log = tmp_path / 'log.csv'
    with open(log, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_ok(curves.save_training_curves(tmp_path / 'c1.png', log))
    png_ok(curves.save_training_curves(tmp_path / 'c2.png',
                                       [{'train_loss': 0.5,
                                         'val_mpjpe_mm': 70.0}]))
    # a run without a validation split logs no MPJPE: the loss alone
    png_ok(curves.save_training_curves(tmp_path / 'c3.png',
                                       [{'train_loss': 0.5}]))


def test_save_training_curves_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        curves.save_training_curves(tmp_path / 'c.png', tmp_path / 'no.csv')
    with pytest.raises(ValueError, match='train_loss'):
        curves.save_training_curves(tmp_path / 'c.png', [{'val_mpjpe_mm': 1}])
    with pytest.raises(ValueError, match='no rows'):
        curves.save_training_curves(tmp_path / 'c.png', [])
    assert list(tmp_path.iterdir()) == []

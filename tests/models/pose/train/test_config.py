import pytest

from models.pose.train.config import TrainConfig, lr_factor, lr_factor_at_step


def test_lr_schedule_matches_the_paper():
    cfg = TrainConfig()
    assert lr_factor(0, cfg) == 1.0
    assert lr_factor(1, cfg) == pytest.approx(0.95)
    assert lr_factor(5, cfg) == pytest.approx(0.95 ** 5 * 0.5)
    assert lr_factor(10, cfg) == pytest.approx(0.95 ** 10 * 0.25)


def test_lr_schedule_counts_steps_on_short_epochs_only():
    cfg = TrainConfig()  # a schedule epoch: max(one epoch, 1000 steps)
    # Human3.6M-sized epochs: exactly the paper's per-epoch schedule
    for step in (0, 5999, 6000, 6001, 29999, 30000, 61234):
        assert lr_factor_at_step(step, 6000, cfg) == lr_factor(step // 6000,
                                                               cfg)
    # 40-step epochs (the demo): the lr moves every 1000 steps, not every 40
    assert lr_factor_at_step(999, 40, cfg) == 1.0
    assert lr_factor_at_step(1000, 40, cfg) == pytest.approx(0.95)
    paper = TrainConfig(lr_epoch_min_steps=0)
    assert lr_factor_at_step(40, 40, paper) == pytest.approx(0.95)
    assert lr_factor_at_step(200, 40, paper) == pytest.approx(0.95 ** 5 * 0.5)

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


def test_each_bound_is_read_from_its_field():
    for kwargs, message in (
            (dict(epochs=0), r'--epochs \(epochs\) must be an integer >= 1, '
             r'got 0'),
            (dict(seed=True), r'--seed \(seed\) must be an integer >= 0'),
            (dict(lr=0.0), r'--lr \(lr\) must be a finite number > 0, got '
             r'0.0'),
            (dict(val_fraction=1.0), r'--val-fraction \(val_fraction\) must '
             r'be a number in \[0, 1\), got 1.0'),
            (dict(lr_decay=float('nan')), r'^lr_decay must be a number in '
             r'\[0, 1\], got nan'),
            (dict(eval_batch_size=0), r'^eval_batch_size must be an integer '
             r'>= 1')):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**kwargs)


def test_the_train_flags_are_made_from_the_fields():
    import argparse

    from models.pose.cli.train import add_arguments, train_config
    from models.pose.train.config import DEMO_DEFAULTS, settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {a.dest: a.option_strings for a in parser._actions}
    with_flag = [f for f in settings() if f.metadata['flag']]
    assert {'--lambda', '--no-flip-augment', '--source'} <= \
        {f.metadata['flag'] for f in with_flag}
    for f in with_flag:
        # a bool whose demo default differs has both forms
        both = f.name == 'augment'
        assert flags[f.name] == [f.metadata['flag']] + \
            ['--no-augment'] * both
    # not given: the field's default, or the demo's without --data
    assert train_config(parser.parse_args(['--data', 'x.npz']), False) == \
        TrainConfig()
    assert train_config(parser.parse_args([]), True) == \
        TrainConfig(**DEMO_DEFAULTS)
    given = parser.parse_args(['--epochs', '2', '--no-flip-test', '--bf16',
                               '--lambda', '0', '--val-fraction', '0'])
    assert train_config(given, True) == TrainConfig(**dict(
        DEMO_DEFAULTS, epochs=2, flip_test=False, bf16=True, lam=0.0,
        val_fraction=0.0))  # 0 is a value, not the default


def test_augmentation_is_on_for_the_demo_and_off_with_data():
    import argparse

    from models.pose.cli.train import add_arguments, train_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def config(*flags, demo):
        return train_config(parser.parse_args(list(flags)), demo)

    assert config(demo=True).augment is True
    assert config('--data', 'x.npz', demo=False).augment is False
    assert config('--no-augment', demo=True).augment is False
    assert config('--data', 'x.npz', '--augment', demo=False).augment
    assert config('--augment-bone-scale', '0.2',
                  demo=True).augment_bone_scale == 0.2
    assert TrainConfig().augment is False  # the paper: flips only
    with pytest.raises(ValueError, match=r'--augment-bone-scale.*got 1\.5'):
        TrainConfig(augment_bone_scale=1.5)

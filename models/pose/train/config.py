"""Training settings (:class:`TrainConfig`, checked at construction) and
the paper's learning-rate schedule, as a function of the optimizer step."""
import math
from dataclasses import dataclass
from typing import Optional


@dataclass
class TrainConfig:
    """Optimisation settings; the paper's are the defaults."""
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 0.95  # after every epoch
    lr_step_decay: float = 0.5  # after every `lr_step_every` epochs
    lr_step_every: int = 5
    #: a schedule epoch lasts max(one epoch, this many optimizer steps)
    lr_epoch_min_steps: int = 1000
    #: share of every training sequence (its end) held out for validation
    val_fraction: float = 0.0
    lam: float = 0.01  # lambda of eq. (11)
    seed: int = 0
    source: str = 'gt'
    stride: int = 1
    test_stride: int = 1
    flip_augment: bool = True
    flip_test: bool = True
    bf16: bool = False
    max_steps_per_epoch: int = 0  # 0: the whole epoch
    save_every_steps: int = 0  # 0: only at the end of every epoch
    max_bad_steps: int = 20
    eval_batch_size: int = 1024

    def __post_init__(self):
        check_train_config(self)


#: (field, command-line flag, smallest allowed value) of every integer
#: setting: a value below the bound is an error, never a silent default
_INT_BOUNDS = (('epochs', '--epochs', 1), ('batch_size', '--batch-size', 1),
               ('lr_step_every', None, 1), ('seed', '--seed', 0),
               ('stride', '--stride', 1), ('test_stride', None, 1),
               ('max_steps_per_epoch', '--max-steps-per-epoch', 0),
               ('save_every_steps', '--save-every-steps', 0),
               ('max_bad_steps', None, 0), ('eval_batch_size', None, 1),
               ('lr_epoch_min_steps', '--lr-epoch-min-steps', 0))


def _name(field: str, flag: Optional[str]) -> str:
    return f'{flag} ({field})' if flag else field


def check_train_config(cfg: 'TrainConfig') -> None:
    """Refuse settings no run can use, naming the flag and the value."""
    for field, flag, low in _INT_BOUNDS:
        value = getattr(cfg, field)
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < low:
            raise ValueError(f"{_name(field, flag)} must be an integer >= "
                             f"{low}, got {value!r}")
    for field, flag, low, high in (('lr', '--lr', 0.0, math.inf),
                                   ('lr_decay', None, 0.0, 1.0),
                                   ('lr_step_decay', None, 0.0, 1.0),
                                   ('lam', '--lambda', 0.0, 1.0),
                                   ('val_fraction', '--val-fraction', 0.0,
                                    1.0)):
        value = getattr(cfg, field)
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and math.isfinite(value) and low <= value <= high)
        if field in ('lr', 'val_fraction'):  # open at one end
            ok = ok and (value > 0 if field == 'lr' else value < 1)
        if not ok:
            bound = {'lr': 'a finite number > 0',
                     'val_fraction': 'a number in [0, 1)'}.get(
                field, f'a number in [{low:g}, {high:g}]')
            raise ValueError(f"{_name(field, flag)} must be {bound}, got "
                             f"{value!r}")


#: Settings of the README's main job: the demo preset on the built-in demo
#: data, sized to finish in a few minutes on 2 CPU cores.
DEMO_DEFAULTS = dict(epochs=30, batch_size=128, source='noisy', stride=1,
                     test_stride=1, val_fraction=0.1)


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier after ``epoch`` (0-based) schedule epochs."""
    return (cfg.lr_decay ** epoch *
            cfg.lr_step_decay ** (epoch // cfg.lr_step_every))


def schedule_epoch_steps(steps_per_epoch: int, cfg: TrainConfig) -> int:
    """Optimizer steps per schedule epoch: one epoch, or
    ``cfg.lr_epoch_min_steps`` if the epoch is shorter."""
    return max(steps_per_epoch, cfg.lr_epoch_min_steps, 1)


def lr_factor_at_step(step: int, steps_per_epoch: int,
                      cfg: TrainConfig) -> float:
    """Learning-rate multiplier for global optimizer step ``step``
    (0-based, counting every step position of every epoch)."""
    return lr_factor(step // schedule_epoch_steps(steps_per_epoch, cfg), cfg)

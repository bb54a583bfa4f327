"""Training settings (:class:`TrainConfig`, checked at construction) and
the paper's learning-rate schedule, as a function of the optimizer step.

Each setting is written once, as a field made by :func:`setting`: its
default, its bounds and, for those the command line sets, its flag, help
text and argument group. :func:`check_train_config` and the ``train``
command (:mod:`models.pose.cli.train`) read them from the field, so adding a
setting is one edit here.
"""
import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Optional


def setting(default: Any, *, flag: Optional[str] = None,
            group: Optional[str] = None, help: Optional[str] = None,
            low: Optional[float] = None, high: float = math.inf,
            open_low: bool = False, open_high: bool = False) -> Any:
    """A :class:`TrainConfig` field with what is known about it.

    ``flag``: its command-line flag in argument group ``group`` (a bool
    field's flag flips the default: ``--no-x`` for a default of true);
    ``help`` may name ``{default}`` and ``{demo}`` (the demo's value);
    a bool field whose demo value differs from its default gets both
    forms, ``--x`` and ``--no-x`` (``flag`` names ``--x``).
    ``low``/``high``: the allowed range (an int field has only ``low``),
    each end closed unless ``open_low``/``open_high``.
    """
    return field(default=default, metadata=dict(
        flag=flag, group=group, help=help, low=low, high=high,
        open_low=open_low, open_high=open_high))


@dataclass
class TrainConfig:
    """Optimisation settings; the paper's are the defaults."""
    epochs: int = setting(50, flag='--epochs', group='optimisation', low=1)
    batch_size: int = setting(
        256, flag='--batch-size', group='optimisation', low=1,
        help='global batch size (default: {default}; the demo: {demo})')
    lr: float = setting(1e-3, flag='--lr', group='optimisation', low=0.0,
                        open_low=True)
    lr_decay: float = setting(0.95, low=0.0, high=1.0)  # after every epoch
    #: after every `lr_step_every` epochs
    lr_step_decay: float = setting(0.5, low=0.0, high=1.0)
    lr_step_every: int = setting(5, low=1)
    #: a schedule epoch lasts max(one epoch, this many optimizer steps)
    lr_epoch_min_steps: int = setting(
        1000, flag='--lr-epoch-min-steps', group='optimisation', low=0,
        help='a learning-rate schedule epoch lasts one epoch or this many '
        'optimizer steps, whichever is longer (default: {default}; 0: the '
        "paper's per-epoch schedule on any data)")
    #: share of every training sequence (its end) held out for validation
    val_fraction: float = setting(
        0.0, flag='--val-fraction', group='validation', low=0.0, high=1.0,
        open_high=True,
        help='share of every training sequence (its end) held out to '
        'choose best.pt (default: {demo} on the demo, else 0: best.pt is '
        'the last epoch, as the field reports Human3.6M)')
    lam: float = setting(0.01, flag='--lambda', group='optimisation',
                         low=0.0, high=1.0)  # lambda of eq. (11)
    seed: int = setting(0, flag='--seed', group='optimisation', low=0)
    source: str = setting(
        'gt', flag='--source', group='data',
        help="2D source in the data file (default: '{demo}' for the demo, "
        "else '{default}')")
    stride: int = setting(1, flag='--stride', group='data', low=1,
                          help='use every k-th training window')
    test_stride: int = setting(1, low=1)
    flip_augment: bool = setting(True, flag='--no-flip-augment',
                                 group='optimisation')
    #: virtual cameras and bone scaling (models.pose.data.augment); off
    #: by default: the paper augmented with flips only
    augment: bool = setting(
        False, flag='--augment', group='optimisation',
        help='geometric augmentation: half the training windows filmed by '
        'virtual cameras in the real Human3.6M cameras\' ranges, their '
        'bones rescaled (default: on for the demo, off with --data, as '
        'the paper trained with flips only)')
    augment_bone_scale: float = setting(
        0.1, flag='--augment-bone-scale', group='optimisation', low=0.0,
        high=1.0, open_high=True,
        help='with --augment, every bone (left and right alike) scaled by '
        'a factor drawn from [1 - s, 1 + s] (default: {default}; 0 keeps '
        'the proportions)')
    flip_test: bool = setting(True, flag='--no-flip-test',
                              group='validation')
    bf16: bool = setting(False, flag='--bf16', group='optimisation',
                         help='bfloat16 autocast')
    max_steps_per_epoch: int = setting(  # 0: the whole epoch
        0, flag='--max-steps-per-epoch', group='optimisation', low=0)
    save_every_steps: int = setting(  # 0: only at the end of every epoch
        0, flag='--save-every-steps', group='output', low=0)
    max_bad_steps: int = setting(20, low=0)
    eval_batch_size: int = setting(1024, low=1)

    def __post_init__(self):
        check_train_config(self)


def settings(group: Optional[str] = None) -> Iterator:
    """The fields of :class:`TrainConfig` (those with a flag in ``group``,
    if given), in their order."""
    for f in fields(TrainConfig):
        if group is None or (f.metadata['flag'] and
                             f.metadata['group'] == group):
            yield f


def _name(name: str, flag: Optional[str]) -> str:
    return f'{flag} ({name})' if flag else name


def _range_text(meta) -> str:
    low, high = meta['low'], meta['high']
    if high == math.inf:
        return f"a finite number {'>' if meta['open_low'] else '>='} {low:g}"
    return (f"a number in {'(' if meta['open_low'] else '['}{low:g}, "
            f"{high:g}{')' if meta['open_high'] else ']'}")


def _in_range(value: float, meta) -> bool:
    low, high = meta['low'], meta['high']
    return (math.isfinite(value) and
            (value > low if meta['open_low'] else value >= low) and
            (value < high if meta['open_high'] else value <= high))


def check_train_config(cfg: 'TrainConfig') -> None:
    """Refuse settings no run can use, naming the flag and the value: a
    value out of its field's range is an error, never a silent default."""
    for f in settings():
        meta, value = f.metadata, getattr(cfg, f.name)
        if meta['low'] is None:
            continue
        name = _name(f.name, meta['flag'])
        if f.type is int:
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < meta['low']:
                raise ValueError(f"{name} must be an integer >= "
                                 f"{meta['low']}, got {value!r}")
        elif isinstance(value, bool) or \
                not isinstance(value, (int, float)) or \
                not _in_range(value, meta):
            raise ValueError(f"{name} must be {_range_text(meta)}, got "
                             f"{value!r}")


#: Settings of the README's main job: the demo preset on the built-in demo
#: data, sized to finish in a few minutes on 2 CPU cores. They stand in for
#: flags the command line was not given when it has no ``--data``.
DEMO_DEFAULTS = dict(epochs=30, batch_size=128, source='noisy', stride=1,
                     test_stride=1, val_fraction=0.1, augment=True)


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

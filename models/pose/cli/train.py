"""``python -m models.pose train``: the flags, then :func:`train` and the
final evaluation of ``best.pt`` (under ``torchrun``, one process each).

The flags of :class:`~models.pose.train.config.TrainConfig`'s settings are
made from its fields (flag, help text, argument group); a flag not given
takes the demo's value (:data:`DEMO_DEFAULTS`) when there is no ``--data``,
else the field's default.
"""
import argparse
import math
import os
import time
from pathlib import Path
from typing import Any, Dict

import torch

from models.common.files import RunDirectoryLock
from models.pose.data.demo import ensure_demo
from models.pose.evaluate.scoring import evaluate_checkpoint
from models.pose.nn.config import (
    PRESETS,
    VARIANTS,
    count_parameters,
    match_parameters,
    preset_config,
)
from models.pose.train.config import DEMO_DEFAULTS, TrainConfig, settings
from models.pose.train.loop import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('model')
    _model_arguments(group)
    group = parser.add_argument_group('data and run directory')
    group.add_argument('--data', type=Path, default=None,
                       help='prepared .npz (default: the built-in demo)')
    _setting_arguments(group, 'data')
    _run_directory_arguments(group)
    _setting_arguments(parser.add_argument_group('optimisation'),
                       'optimisation')
    group = parser.add_argument_group('validation and evaluation')
    _setting_arguments(group, 'validation')
    group.add_argument('--no-evaluate', action='store_true',
                       help='skip the final evaluation and picture')
    group = parser.add_argument_group('processes and output')
    _setting_arguments(group, 'output')
    _process_arguments(group)


def _setting_arguments(group, name: str) -> None:
    """The flags of the settings in argument group ``name``, in field
    order. Each defaults to ``None``, "not given", so that 0 stays a value
    and the demo's defaults can stand in (:func:`train_config`)."""
    for f in settings(name):
        meta = f.metadata
        text = meta['help'] and meta['help'].format(
            default=f.default, demo=DEMO_DEFAULTS.get(f.name, f.default))
        if f.type is bool and DEMO_DEFAULTS.get(f.name, f.default) \
                != f.default:  # either default: --x and --no-x
            group.add_argument(meta['flag'], dest=f.name, default=None,
                               action=argparse.BooleanOptionalAction,
                               help=text)
        elif f.type is bool:  # the flag says the opposite of the default
            action = 'store_false' if f.default else 'store_true'
            group.add_argument(meta['flag'], dest=f.name, action=action,
                               default=None, help=text)
        else:
            group.add_argument(meta['flag'], dest=f.name, type=f.type,
                               default=None, help=text)


def _model_arguments(group) -> None:
    group.add_argument('--preset', default='demo',
                       help=f"architecture preset: {', '.join(PRESETS)}")
    group.add_argument('--joints', type=int, choices=(16, 17), default=None,
                       help='17 (Human3.6M) or 16 (no neck/nose)')
    group.add_argument('--variant', choices=VARIANTS, default='wj',
                       help='ablation variant (Table 3)')
    group.add_argument('--authors-diagonal', action='store_true',
                       help="reproduce the authors' diagonal-only "
                       "neighbour term")
    group.add_argument('--match-params', type=int, default=None,
                       metavar='N',
                       help='size the variant to N parameters (within 2 %%) '
                       'by changing only the MLP hidden width R, for a '
                       'fair ablation (Table 3: 950000 with --preset '
                       'paper-t1 --joints 16)')
    group.add_argument('--dropout', type=float, default=None,
                       help='dropout rate (default: the preset\'s, 0.2)')
    group.add_argument('--causal', action='store_true',
                       help='every window predicts its last frame (only '
                       'past and present frames): for live streams with '
                       'no delay (StreamingLifter, lookahead 0); recorded '
                       'in the checkpoint, which evaluate, infer and '
                       'export follow')


def _run_directory_arguments(group) -> None:
    group.add_argument('--out', type=Path, default=None,
                       help='output directory (default: runs/<preset>)')
    group.add_argument('--resume', action='store_true',
                       help='continue from <out>/last.pt')
    group.add_argument('--overwrite', action='store_true',
                       help='replace the run in a non-empty --out (its '
                       'checkpoints, log and TensorBoard scalars are '
                       'deleted first); without it or --resume a '
                       'non-empty --out is refused')


def _process_arguments(group) -> None:
    group.add_argument('--threads', type=int, default=0,
                       help='torch threads per process (0: default)')
    group.add_argument('--ddp-timeout', type=float, default=300.0,
                       help='seconds before a stuck DDP collective fails')
    group.add_argument('--no-progress', action='store_true')


def train_config(args: argparse.Namespace, demo: bool) -> TrainConfig:
    """The settings the flags give; for a flag not given, the demo's
    default when training on the demo data, else the field's."""
    defaults = DEMO_DEFAULTS if demo else {}
    values = {}
    for f in settings():
        given = getattr(args, f.name, None) if f.metadata['flag'] else None
        if given is not None:  # 0 is a value, not "the default"
            values[f.name] = given
        elif f.name in defaults:
            values[f.name] = defaults[f.name]
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    overrides: Dict[str, Any] = {'variant': args.variant,
                                 'authors_diagonal': args.authors_diagonal,
                                 'causal': args.causal}
    if args.joints is not None:
        overrides['joints'] = args.joints
    if args.dropout is not None:
        overrides['dropout'] = args.dropout
    model_cfg = _matched(preset_config(args.preset, **overrides),
                         args.match_params)
    _check_process_options(args)
    demo_data = args.data is None
    cfg = train_config(args, demo_data)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.out or Path('runs') / args.preset
    is_main = int(os.environ.get('RANK', '0')) == 0
    if is_main:  # the lock covers the training and the final evaluation
        with RunDirectoryLock(out_dir, '--out'):
            return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)
    return _run(args, model_cfg, cfg, demo_data, out_dir, is_main)


def _matched(model_cfg, target):
    """``model_cfg`` sized to ``target`` parameters (``--match-params``;
    ``None``: as it is), saying the width it chose."""
    if target is None:
        return model_cfg
    try:
        matched = match_parameters(model_cfg, target)
    except ValueError as err:
        raise ValueError(f'--match-params {target}: {err}') from None
    if int(os.environ.get('RANK', '0')) == 0:
        print(f'--match-params {target:,}: hidden width R = '
              f'{matched.hidden} (the preset\'s: {model_cfg.hidden}), '
              f'{count_parameters(matched):,} parameters', flush=True)
    return matched


def _check_process_options(args: argparse.Namespace) -> None:
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), "
                         f"got {args.threads}")
    if not (math.isfinite(args.ddp_timeout) and args.ddp_timeout > 0):
        raise ValueError(f"--ddp-timeout must be a positive number of "
                         f"seconds, got {args.ddp_timeout}")
    if args.dropout is not None and not (math.isfinite(args.dropout) and
                                         0 <= args.dropout < 1):
        raise ValueError(f"--dropout must lie in [0, 1), got {args.dropout}")


def _run(args, model_cfg, cfg, demo_data, out_dir, is_main):

    data_path = ensure_demo() if demo_data else args.data
    start = time.perf_counter()
    summary = train(model_cfg, cfg, data_path, out_dir, resume=args.resume,
                    ddp_timeout_s=args.ddp_timeout,
                    progress=not args.no_progress, overwrite=args.overwrite)
    if is_main and not args.no_evaluate and 'stopped' not in summary:
        evaluate_checkpoint(out_dir / 'best.pt', data_path, out_dir,
                            source=cfg.source, flip_test=cfg.flip_test,
                            pictures=True, val_fraction=cfg.val_fraction)
        print(f'Training and evaluation took '
              f'{time.perf_counter() - start:.0f} s; outputs in {out_dir}',
              flush=True)
    return summary

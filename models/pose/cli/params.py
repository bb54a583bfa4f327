"""``python -m models.pose params``: parameter counts of every preset beside
the paper's Table 4, then the matched ablation: the four variants of Table
3 sized to one budget (:func:`~models.pose.nn.config.match_parameters`,
the MLP hidden width R only), at the paper's scale and the demo's."""
import argparse

from models.pose.nn.config import (
    PRESETS,
    TABLE3_PARAMETERS,
    VARIANTS,
    count_parameters,
    match_parameters,
    preset_config,
)

PAPER = {('paper-t1', 16): '5.42 M', ('paper-t9', 16): '5.43 M'}
#: Table 3's rows: (name, model config overrides)
ABLATION = (('mixer', dict(variant='mixer')), ('gcn', dict(variant='gcn')),
            ('wj', dict(variant='wj')),
            ('wj --authors-diagonal', dict(variant='wj',
                                           authors_diagonal=True)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--variant', choices=VARIANTS, default='wj')
    parser.add_argument('--match-params', type=int, default=None,
                        metavar='N', help='count every preset sized to N '
                        'parameters (the hidden width R only)')


def run(args: argparse.Namespace) -> None:
    print(f"{'preset':12s} {'joints':>6s} {'hidden':>6s} {'parameters':>12s}"
          f"  paper")
    for preset in PRESETS:
        for joints in (16, 17):
            cfg = preset_config(preset, joints=joints, variant=args.variant)
            if args.match_params is not None:
                cfg = _matched(cfg, args.match_params)
            print(f'{preset:12s} {joints:6d} {cfg.hidden:6d} '
                  f'{count_parameters(cfg):12,d}  '
                  f'{PAPER.get((preset, joints), "")}')
    demo = count_parameters(preset_config('demo'))
    for preset, joints, target, note in (
            ('paper-t1', 16, TABLE3_PARAMETERS, "Table 3's budget"),
            ('demo', 17, demo, "the demo wj model's size")):
        print(f'\nAblation sized with --match-params {target} ({note}), '
              f'--preset {preset} --joints {joints}:')
        for name, overrides in ABLATION:
            cfg = match_parameters(preset_config(preset, joints=joints,
                                                 **overrides), target)
            print(f'  {name:22s} hidden {cfg.hidden:5d} '
                  f'{count_parameters(cfg):12,d}')


def _matched(cfg, target: int):
    try:
        return match_parameters(cfg, target)
    except ValueError as err:
        raise ValueError(f'--match-params {target}: {err}') from None

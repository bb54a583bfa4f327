"""``python -m models.pose params``: parameter counts of every preset beside
the paper's Table 4."""
import argparse

from models.pose.nn.config import PRESETS, VARIANTS, preset_config
from models.pose.nn.model import MLPGraphWJ

PAPER = {('paper-t1', 16): '5.42 M', ('paper-t9', 16): '5.43 M'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--variant', choices=VARIANTS, default='wj')


def run(args: argparse.Namespace) -> None:
    print(f"{'preset':12s} {'joints':>6s} {'parameters':>12s}  paper")
    for preset in PRESETS:
        for joints in (16, 17):
            n = MLPGraphWJ(preset_config(preset, joints=joints,
                                         variant=args.variant)).num_parameters()
            print(f'{preset:12s} {joints:6d} {n:12,d}  '
                  f'{PAPER.get((preset, joints), "")}')

"""``python -m models.pose prepare-demo``: the built-in demo set of real
motion capture (:mod:`models.pose.data.demo`)."""
import argparse
from pathlib import Path

from models.common.outputs import check_output
from models.pose.data.demo import default_path, prepare_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', type=Path, default=None,
                        help='output .npz (default: data/prepared/demo.npz '
                        'or $PYG_WJ_DATA_DIR/demo.npz)')
    parser.add_argument('--noise-px', type=float, default=2.0,
                        help="std of the pixel jitter of the 'noisy' source "
                        "(scaled per joint; plus 1%% outliers)")
    parser.add_argument('--seed', type=int, default=0)


def run(args: argparse.Namespace) -> None:
    check_output(args.out or default_path(), argument='--out',
                 suffixes=('.npz',))
    prepare_demo(args.out, args.noise_px, args.seed)

"""``python -m models.pose prepare-demo``: the built-in demo set of real
motion capture (:mod:`models.pose.data.demo`)."""
import argparse
import math
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
    # checked here: NaN would be reported against a key of the output file,
    # a negative std would be used as its absolute value
    if not (math.isfinite(args.noise_px) and args.noise_px >= 0):
        raise ValueError(f"--noise-px must be a finite number >= 0 (the std "
                         f"of the pixel jitter), got {args.noise_px}")
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    check_output(args.out or default_path(), argument='--out',
                 suffixes=('.npz',))
    prepare_demo(args.out, args.noise_px, args.seed)

"""``python -m models.pose prepare-3dhp``: the MPI-INF-3DHP test npz in this
project's prepared format (:mod:`models.pose.data.mpi3dhp`)."""
import argparse
from pathlib import Path

from models.common.files import refuse_special_file
from models.common.outputs import check_output
from models.pose.data.mpi3dhp import prepare_3dhp


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data', type=Path, required=True,
                        help='3DHP test npz with pose2d / pose3d')
    parser.add_argument('--out', type=Path,
                        default=Path('data/prepared/3dhp.npz'))
    parser.add_argument('--image-size', type=int, nargs=2, default=None,
                        metavar=('W', 'H'))


def run(args: argparse.Namespace) -> None:
    refuse_special_file(args.data, '--data', 'the MPI-INF-3DHP test npz '
                        '(pose2d, pose3d)')
    if args.image_size is not None and min(args.image_size) < 1:
        width, height = args.image_size
        raise ValueError(f"--image-size must be two positive integers W H "
                         f"(pixels of the test videos), got {width} "
                         f"{height}")
    check_output(args.out, argument='--out', suffixes=('.npz',),
                 inputs={'--data': args.data})
    prepare_3dhp(args.data, args.out, args.image_size)

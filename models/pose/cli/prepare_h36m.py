"""``python -m models.pose prepare-h36m``: the VideoPose3D Human3.6M files
in this project's prepared format (:mod:`models.pose.data.h36m`)."""
import argparse
from pathlib import Path

from models.common.files import check_input_file
from models.common.outputs import check_output
from models.pose.data.h36m import prepare_h36m


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data-3d', type=Path, required=True,
                        help='data_3d_h36m.npz (VideoPose3D)')
    parser.add_argument('--data-2d', type=Path, nargs='+', required=True,
                        help='one or more data_2d_h36m_<source>.npz')
    parser.add_argument('--out', type=Path,
                        default=Path('data/prepared/h36m.npz'))
    parser.add_argument('--cameras', type=Path, default=None,
                        help='h36m_cameras.json (default: '
                        '$PYG_WJ_H36M_CAMERAS, else the calibration '
                        'shipped in models/pose/calibration)')


def run(args: argparse.Namespace) -> None:
    if args.cameras is not None:  # else the loader's hint names the variable
        check_input_file(args.cameras, '--cameras', 'h36m_cameras.json (the '
                         'calibration in models/pose/data/calibration)')
    for path_2d in args.data_2d:  # before reading: a refusal writes nothing
        check_output(args.out, argument='--out', suffixes=('.npz',),
                     inputs={'--data-3d': args.data_3d,
                             '--data-2d': path_2d,
                             '--cameras': args.cameras})
    prepare_h36m(args.data_3d, args.data_2d, args.out, args.cameras)

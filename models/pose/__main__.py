"""Command line: ``python -m models.pose <command> [options]``.

Commands: ``train``, ``evaluate``, ``infer``, ``prepare-h36m``,
``prepare-3dhp``, ``prepare-demo``, ``params``. ``--help`` on each lists its
options. Expected failures (missing or malformed files, wrong shapes, a
checkpoint of another model) end with one ``error:`` line and exit code 2.
"""
import argparse
import importlib
import sys

COMMANDS = {
    'train': ('models.pose.train', 'train a model (DDP under torchrun)'),
    'evaluate': ('models.pose.evaluate',
                 'MPJPE / P-MPJPE / N-MPJPE per action, PCK and AUC'),
    'infer': ('models.pose.infer', '3D poses from a file of 2D keypoints'),
    'prepare-h36m': ('models.pose.data.h36m',
                     'convert VideoPose3D Human3.6M files'),
    'prepare-3dhp': ('models.pose.data.mpi3dhp',
                     'convert the MPI-INF-3DHP test npz'),
    'prepare-demo': ('models.pose.data.demo',
                     'build the built-in real mocap demo set'),
    'params': ('models.pose.params', 'parameter counts of every preset'),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m models.pose',
        description='MLP-GraphWJ 3D human pose lifting')
    sub = parser.add_subparsers(dest='command', required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, PermissionError,
            IsADirectoryError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else str(err)
        print(f'error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())

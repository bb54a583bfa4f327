"""Command line: ``python -m models.pose <command> [options]``.

Commands: ``train``, ``evaluate``, ``infer``, ``prepare-h36m``,
``prepare-3dhp``, ``prepare-demo``, ``params``, ``export``. ``--help`` on
each lists its options. Expected failures (missing or malformed files, wrong
shapes, a checkpoint of another model, a diverged run, a dead DDP peer, a
full disk, a run directory in use) end with one ``error:`` line and exit
code 2. A training run stopped by SIGTERM or SIGINT saves ``last.pt`` and
exits 143 or 130 (128 + the signal's number), so ``train && evaluate`` and
job schedulers see that it did not finish.
"""
import argparse
import importlib
import os
import signal
import sys

from torch.distributed import DistError

from models.common.allocator import keep_freed_memory
from models.common.files import os_error_message
from models.pose.train.errors import NonFiniteLossError

COMMANDS = {
    'train': ('models.pose.cli.train', 'train a model (DDP under torchrun)'),
    'evaluate': ('models.pose.evaluate.scoring',
                 'MPJPE / P-MPJPE / N-MPJPE per action, PCK and AUC'),
    'infer': ('models.pose.cli.infer', '3D poses from a file of 2D keypoints'),
    'prepare-h36m': ('models.pose.data.h36m',
                     'convert VideoPose3D Human3.6M files'),
    'prepare-3dhp': ('models.pose.data.mpi3dhp',
                     'convert the MPI-INF-3DHP test npz'),
    'prepare-demo': ('models.pose.data.demo',
                     'build the built-in real mocap demo set'),
    'params': ('models.pose.cli.params', 'parameter counts of every preset'),
    'export': ('models.pose.deploy.onnx',
               'ONNX file of a checkpoint, checked with ONNX Runtime'),
}


def _is_peer_failure(err: Exception) -> bool:
    """Whether ``err`` is a collective that failed because another rank died
    or timed out (gloo reports it as a plain ``RuntimeError``)."""
    if isinstance(err, DistError):
        return True
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return False
    text = str(err)
    return any(sign in text for sign in (
        'Connection closed by peer', 'Connection reset by peer', 'gloo',
        'NCCL', 'Timed out', 'timed out', 'Socket Timeout'))


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
    keep_freed_memory()  # reuse activation buffers instead of page faults
    try:
        result = args.run(args)
    except (ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else str(err)
        print(f'error: {message}', file=sys.stderr)
        return 2
    except OSError as err:  # missing, unwritable, a file in the way, ENOSPC
        print(f'error: {os_error_message(err)}', file=sys.stderr)
        return 2
    except RecursionError:
        print('error: an input is nested too deeply to read',
              file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except RuntimeError as err:  # DistError is one too
        if not _is_peer_failure(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else ''
        print(f'error: another process of this distributed job failed or '
              f'stopped answering ({type(err).__name__}: {first}); the last '
              f'complete checkpoint is intact: continue with --resume',
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    stopped = result.get('stopped') if isinstance(result, dict) else None
    if stopped:  # saved, but not finished: 128 + the signal's number
        return 128 + int(getattr(signal, stopped, signal.SIGTERM))
    return 0


if __name__ == '__main__':
    sys.exit(main())

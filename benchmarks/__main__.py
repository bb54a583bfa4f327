"""Command line: ``python -m benchmarks
{flops,layer,model,node_classification,all} [--quick | --smoke]
[--out DIR] [--threads N]``."""
import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import List, Optional

from benchmarks import SUITES
from benchmarks.options import RunOptions, max_threads, threads_problem
from models.common.allocator import keep_freed_memory
from models.common.files import ensure_directory, os_error_message
from models.common.outputs import check_output_directory


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks',
        description='pyg-wj benchmarks: FLOP counts, layer and model '
        'speed. Every suite writes DIR/<suite>.json and DIR/<suite>.md '
        '(and a .png where a picture helps).')
    parser.add_argument('suite', choices=SUITES + ('all', ),
                        help='which suite to run')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--quick', action='store_true',
                      help='reduced sizes: all suites together take a few '
                      'minutes on 2 idle cores')
    size.add_argument('--smoke', action='store_true',
                      help='tiny shapes and three calls per timing, for the '
                      'tests: checks the code and the output files in '
                      'seconds; its timings mean nothing')
    parser.add_argument('--out', type=Path, default=Path('bench-results'),
                        help='output directory (default: bench-results)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch intra-op threads, 1 to 4 x the logical '
                        f'CPUs ({max_threads()} here; default 0: all '
                        'logical CPUs); recorded in every output')
    return parser


#: Suites that need a package of the ``bench`` extra: (module, extra).
NEEDS = {'flops': ('fvcore', 'bench')}


def missing_extra(suites) -> Optional[str]:
    """One line naming the extra to install, or ``None`` if nothing the
    chosen suites import is missing."""
    for suite in suites:
        module, extra = NEEDS.get(suite, (None, None))
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            return (f'error: the {suite} suite needs {module}, which is not '
                    f'installed; install the {extra!r} extra: '
                    f'pip install -e ".[{extra}]"')
    return None


def argument_problem(args: argparse.Namespace) -> Optional[str]:
    """One ``error:`` line for ``--threads`` or ``--out`` values no run can
    use, or ``None``; checked before anything is imported or written."""
    problem = threads_problem(args.threads)
    if problem:
        return f'error: {problem}'
    try:
        check_output_directory(args.out, argument='--out')
    except OSError as err:  # a file in the way, no permission, a busy run
        return f'error: {os_error_message(err)}'
    return None


def make_output_directory(out: Path) -> Optional[str]:
    """``mkdir -p out``, or the ``error:`` line saying why not (the checks
    passed, but the disk may be full or the parent gone meanwhile)."""
    try:
        ensure_directory(out, '--out')
    except OSError as err:
        return f'error: {os_error_message(err)}'
    return None


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    suites = SUITES if args.suite == 'all' else (args.suite, )
    missing = (argument_problem(args) or missing_extra(suites)
               or make_output_directory(args.out))
    if missing:
        print(missing, file=sys.stderr)
        return 2
    # here, not at the top: _common imports torch, which takes seconds,
    # and --help and usage errors should not wait for it
    from benchmarks import _common as common

    threads = common.pin_threads(args.threads)
    opts = RunOptions(
        smoke=args.smoke, quick=args.quick or args.smoke, threads=threads,
        out=args.out,
        # as the models.pose commands do, so the figures are what a user
        # gets
        malloc_tuned=keep_freed_memory())
    size = 'smoke' if args.smoke else 'quick' if args.quick else 'full'
    common.log(f'benchmarks {", ".join(suites)}: {threads} torch thread(s), '
               f'{size} run, output in '
               f'{args.out}')
    start = time.perf_counter()
    for suite in suites:
        busy = common.other_cpu_users()
        if busy:
            common.log(f'WARNING: other processes are using the CPUs; '
                       f'timings taken now will be flagged as contended: '
                       f'{"; ".join(busy)}')
        # each suite pays for its own imports only when it runs
        module = importlib.import_module(f'benchmarks.{suite}')
        t0 = time.perf_counter()
        module.run(opts)
        common.log(f'{suite}: done in {time.perf_counter() - t0:.1f} s')
    common.log(f'all done in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())

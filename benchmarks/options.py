"""What one ``python -m benchmarks`` run was asked for, handed to every
suite's ``run`` (no torch here, so ``--help`` stays fast)."""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class RunOptions:
    """The command line's choices, and what the process setup achieved.

    ``smoke``: tiny shapes, and every timing is a few plain calls after one
    warm-up (no ``Timer`` block sizing, no retry, no garbage collection
    before a memory measurement), so a suite finishes in seconds whatever
    the machine's load; for the tests of the code paths and output files
    only, its timings mean nothing. ``quick``: reduced sizes; also true
    under ``smoke``, which reduces them further. ``threads``: torch's
    intra-op thread count, already pinned. ``malloc_tuned``: whether
    ``models.common.allocator.keep_freed_memory`` took effect.
    """
    smoke: bool = False
    quick: bool = False
    threads: int = 1
    out: Path = Path('bench-results')
    malloc_tuned: bool = False


#: ``--threads`` above this many per logical CPU is refused: nothing is
#: learnt from it, and torch's thread pool crashes the process (a
#: segmentation fault, not an error) when asked for 100000.
MAX_THREADS_PER_CPU = 4


def max_threads() -> int:
    """The largest ``--threads`` accepted on this machine."""
    return MAX_THREADS_PER_CPU * (os.cpu_count() or 1)


def threads_problem(threads: int) -> Optional[str]:
    """Why ``--threads threads`` is refused (one line), or ``None``."""
    most = max_threads()
    if 0 <= threads <= most:
        return None
    return (f'--threads {threads}: expected 0 (all logical CPUs) or 1 to '
            f'{most} ({MAX_THREADS_PER_CPU} x the {os.cpu_count() or 1} '
            f'logical CPUs of this machine); give a --threads in that range')

"""What one ``python -m benchmarks`` run was asked for, handed to every
suite's ``run`` (no torch here, so ``--help`` stays fast)."""
from dataclasses import dataclass
from pathlib import Path


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

"""Deterministic fault injection, for tests only.

``PYG_WJ_FAULT=<point>[:<n>][@<rank>]`` makes the process SIGKILL itself the
``n``-th time (default: the first) it reaches the named point, on every
process or, with ``@<rank>``, only on the DDP process of that ``RANK``. The
points (:data:`POINTS`) are the moments a kill could lose or tear state: a
test kills there once, resumes, and compares with an unbroken run. Unset,
:func:`fault_point` is one dictionary lookup.
"""
import os
import signal
from typing import Dict, Optional, Tuple

VARIABLE = 'PYG_WJ_FAULT'

#: what each point is: where :func:`fault_point` is called with its name
POINTS = {
    'after-best': 'training, end of an epoch: best.pt written, last.pt not '
                  'yet',
    'after-last': 'training: last.pt written (mid-epoch or at the end of an '
                  'epoch), the epoch\'s log row not yet',
    'after-log': 'training, end of an epoch: its log.csv row written',
    'atomic-write': 'any atomic_write: the temporary file complete and '
                    'flushed, not yet renamed over the target',
    'ddp-barrier': 'training under DDP: at the barrier after an epoch',
}

_reached: Dict[str, int] = {}


def parse(value: str) -> Tuple[str, int, Optional[int]]:
    """``(point, n, rank or None)`` of a ``PYG_WJ_FAULT`` value."""
    spec, _, rank = value.partition('@')
    point, _, count = spec.partition(':')
    problem = None
    if point not in POINTS:
        problem = f"point {point!r} is not one of {', '.join(POINTS)}"
    elif count and not (count.isdigit() and int(count) >= 1):
        problem = f"count {count!r} is not an integer >= 1"
    elif rank and not rank.isdigit():
        problem = f"rank {rank!r} is not an integer >= 0"
    if problem:
        raise ValueError(f"{VARIABLE}={value!r}: {problem} (expected "
                         f"<point>[:<n>][@<rank>]; it is for tests only)")
    return point, int(count or 1), int(rank) if rank else None


def fault_point(name: str) -> None:
    """SIGKILL this process here if ``PYG_WJ_FAULT`` names this point and
    this is the time it asked for; otherwise do nothing."""
    value = os.environ.get(VARIABLE)
    if not value:
        return
    point, count, rank = parse(value)
    if point != name:
        return
    if rank is not None and int(os.environ.get('RANK', '0')) != rank:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == count:
        os.kill(os.getpid(), signal.SIGKILL)

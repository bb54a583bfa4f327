"""Process-wide settings of the C allocator (glibc ``malloc``) for long
CPU inference and training runs.

Every forward pass allocates activation buffers of several megabytes and
frees them a moment later. glibc's ``malloc`` serves blocks that large with
``mmap`` and gives them back to the kernel on ``free``, so the next call
takes a page fault for every 4 KiB of every buffer and has the kernel zero
it. Keeping freed memory inside the process turns that into plain reuse
(``docs/performance.rst`` has the measured effect). The price is
that the process keeps its peak heap instead of returning it, which is what
a training or inference job wants anyway.
"""
import ctypes
import sys

# mallopt(3) parameter numbers, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Largest block glibc still serves from the heap once tuned; bigger ones
#: (rare, e.g. a whole data set) keep going to ``mmap``.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Freed heap memory kept before any is returned to the kernel.
TRIM_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Ask glibc to serve blocks up to :data:`MMAP_THRESHOLD_BYTES` from the
    heap and to keep up to :data:`TRIM_THRESHOLD_BYTES` of freed memory.

    Returns whether the settings took effect; ``False`` (and no change) on
    systems without glibc, such as macOS, Windows or musl-based Linux.
    Affects only allocations made after the call.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))

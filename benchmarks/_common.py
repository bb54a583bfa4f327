"""Helpers shared by the benchmark suites: timing, peak memory, output files.

Every number the suites report goes through the two measuring functions
here, so that all of them follow the same, stated method:

* :func:`time_callable` times with ``torch.utils.benchmark.Timer`` under a
  pinned thread count and returns the median and inter-quartile range of
  the per-run times;
* :func:`peak_allocated_bytes` reports the peak of the bytes held by
  torch's CPU allocator during one call (see its docstring for why that and
  not RSS or ``tracemalloc``).
"""
import datetime
import gc
import json
import math
import os
import platform
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
import torch.utils.benchmark as torch_benchmark
import torch_geometric
from torch.profiler import ProfilerActivity, profile

from benchmarks.options import RunOptions
from models.common.files import save_figure_atomic, write_text_atomic

#: One line that every Markdown report repeats, so a reader of a single file
#: knows how its memory column was obtained.
MEMORY_METHOD = (
    "peak bytes held by torch's CPU allocator during one call, above what "
    "it held when the call started (torch.profiler with profile_memory=True "
    "reports every allocation and free with the allocator's running total; "
    "we take the maximum). Counts every tensor torch allocates, including "
    "autograd's saved activations and gradients; not counted: memory that "
    "oneDNN/MKL or Python allocate outside torch's allocator.")

TIMING_METHOD = (
    "torch.utils.benchmark.Timer.blocked_autorange after explicit warm-up "
    "calls, thread count pinned with torch.set_num_threads and the Timer's "
    "num_threads; we report the median of the per-run times and their "
    "inter-quartile range (IQR = q75 - q25; with fewer than 4 samples it is "
    "interpolated, and n says how many samples there were). During every "
    "timing the share of the machine's CPU time used by other processes "
    "(from /proc/stat minus our own usage, steal time included) is "
    "recorded; rows where it exceeded 10% are flagged as contended and "
    "should not be trusted.")


# --------------------------------------------------------------------------
# progress and environment
# --------------------------------------------------------------------------

_START = time.perf_counter()


def log(message: str) -> None:
    """Progress line with the seconds since start; flushed at once so a
    long run can be watched from a log file."""
    print(f'[{time.perf_counter() - _START:7.1f}s] {message}', flush=True)


def pin_threads(threads: Optional[int]) -> int:
    """Fix torch's intra-op thread count and return it.

    Timings on a 2-core machine move by 2x with the thread count, so every
    suite pins it once, up front, and records it in its outputs.
    """
    if threads is None or threads <= 0:
        threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    return torch.get_num_threads()


#: Timed calls per measurement of a ``--smoke`` run
#: (:attr:`RunOptions.smoke`).
SMOKE_SAMPLES = 3


def environment(opts: RunOptions) -> Dict[str, Any]:
    """What a reader needs to compare two result files."""
    return {
        'date': datetime.datetime.now().isoformat(timespec='seconds'),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'cpu': _cpu_name(),
        'cpu_capability': torch.backends.cpu.get_cpu_capability(),
        'logical_cpus': os.cpu_count(),
        'threads': opts.threads,
        'malloc_keeps_freed_memory': opts.malloc_tuned,
    }


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


# --------------------------------------------------------------------------
# contention: is anything else using the CPUs?
# --------------------------------------------------------------------------

class CpuMonitor:
    """Share of the machine's CPU time taken by *other* processes (and the
    hypervisor, as steal time) between :meth:`start` and :meth:`stop`.

    Timings on a 2-core machine are meaningless while another job runs:
    we saw 1 ms layers measured at 55 ms while training jobs shared the
    cores. Rather than trusting a quiet machine, every measurement records
    this share, and the reports flag those taken under contention.
    Linux only (``/proc/stat``); elsewhere the share is ``None``.
    """

    def __init__(self):
        self._t0 = self._busy0 = self._own0 = None

    @staticmethod
    def _busy_seconds() -> Optional[float]:
        try:
            with open('/proc/stat') as f:
                fields = f.readline().split()[1:]
        except OSError:
            return None
        # user nice system idle iowait irq softirq steal ...
        values = [int(v) for v in fields]
        busy = values[0] + values[1] + values[2] + sum(values[5:8])
        return busy / os.sysconf('SC_CLK_TCK')

    @staticmethod
    def _own_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> 'CpuMonitor':
        self._t0 = time.perf_counter()
        self._busy0 = self._busy_seconds()
        self._own0 = self._own_seconds()
        return self

    def stop(self) -> Optional[float]:
        busy = self._busy_seconds()
        if busy is None or self._busy0 is None:
            return None
        wall = time.perf_counter() - self._t0
        if wall <= 0:
            return None
        other = (busy - self._busy0) - (self._own_seconds() - self._own0)
        share = other / (wall * (os.cpu_count() or 1))
        return min(max(share, 0.0), 1.0)


#: Above this share of the CPUs used by others, a timing is flagged.
CONTENTION_LIMIT = 0.10


def other_cpu_users(limit: int = 3) -> List[str]:
    """Other processes currently using CPU (``ps``), for the log."""
    try:
        out = subprocess.run(['ps', '-eo', 'pid,pcpu,args', '--sort=-pcpu'],
                             capture_output=True, text=True, timeout=5)
    except Exception:
        return []
    rows = []
    for line in out.stdout.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) < 3 or int(parts[0]) == os.getpid():
            continue
        if float(parts[1]) >= 20.0:
            rows.append(f'{parts[0]} {parts[1]}% {parts[2][:80]}')
    return rows[:limit]


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------

@dataclass
class Timing:
    """Summary of one timed callable, in seconds."""
    median: float
    iqr: float
    q25: float
    q75: float
    samples: int  # number of per-run times behind the statistics
    runs_per_sample: int
    contention: Optional[float] = None  # CPU share used by others

    @property
    def contended(self) -> bool:
        return self.contention is not None and \
            self.contention > CONTENTION_LIMIT

    @property
    def median_ms(self) -> float:
        return self.median * 1e3

    @property
    def iqr_ms(self) -> float:
        return self.iqr * 1e3

    def short(self) -> str:
        flag = (f', CONTENDED: others used {100 * self.contention:.0f}% of '
                f'the CPUs' if self.contended else '')
        return (f'{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f}, '
                f'n={self.samples}{flag})')


def time_callable(fn: Callable[[], Any], threads: int,
                  min_run_time: float = 0.5, min_samples: int = 5,
                  warmup: int = 2, max_time: float = 60.0,
                  per_call_hint: Optional[float] = None,
                  retries: int = 2, smoke: bool = False) -> Timing:
    """Median and IQR of ``fn()``'s wall time.

    ``warmup`` calls run first and are thrown away (first calls pay for
    allocator growth, oneDNN weight packing and, with ``torch.compile``,
    compilation). ``blocked_autorange`` then repeats ``fn`` in blocks until
    ``min_run_time`` has passed; its block-size estimation is one more
    untimed warm-up. For slow callables ``min_run_time`` is raised so that
    at least ``min_samples`` runs are timed, but never beyond ``max_time``
    (then fewer samples are taken; ``samples`` says how many).
    ``per_call_hint`` (seconds) stands in for the warm-up's estimate when
    the caller already ran ``fn`` once itself and passes ``warmup=0``.
    If other processes used more than :data:`CONTENTION_LIMIT` of the CPUs
    during the measurement, it is repeated up to ``retries`` times (unless
    it took over 10 s) and the least contended one is kept; its
    ``contention`` says how clean it was. With ``smoke`` (a ``--smoke``
    run): at most one warm-up, then :data:`SMOKE_SAMPLES` plain calls.
    """
    if smoke:
        return _smoke_timing(fn, min(warmup, 1))
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    per_call = (time.perf_counter() - t0) / warmup if warmup else 0.0
    if per_call_hint is not None and not warmup:
        per_call = per_call_hint
    if per_call > 0:
        wanted = per_call * (min_samples - 0.5)
        min_run_time = max(min_run_time, min(wanted, max_time))
    timer = torch_benchmark.Timer(stmt='fn()', globals={'fn': fn},
                                  num_threads=threads)
    best = None
    for attempt in range(retries + 1):
        monitor = CpuMonitor().start()
        t_start = time.perf_counter()
        measurement = timer.blocked_autorange(min_run_time=min_run_time)
        took = time.perf_counter() - t_start
        contention = monitor.stop()
        if best is None or (contention or 0.0) < (best[1] or 0.0):
            best = (measurement, contention)
        if contention is None or contention <= CONTENTION_LIMIT or \
                took > 10.0 or attempt == retries:
            break  # quiet, unknown, too slow to repeat, or the last try
        time.sleep(2.0)  # let a transient burst of other work pass
    measurement, contention = best
    times = np.asarray(measurement.times, dtype=np.float64)
    q25, median, q75 = np.percentile(times, [25, 50, 75])
    return Timing(median=float(median), iqr=float(q75 - q25), q25=float(q25),
                  q75=float(q75), samples=int(times.size),
                  runs_per_sample=int(measurement.number_per_run),
                  contention=contention)


def _smoke_timing(fn: Callable[[], Any], warmup: int) -> Timing:
    """A ``--smoke`` timing: a few plain calls, summarised as usual."""
    for _ in range(warmup):
        fn()
    monitor = CpuMonitor().start()
    times = []
    for _ in range(SMOKE_SAMPLES):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    contention = monitor.stop()
    q25, median, q75 = np.percentile(times, [25, 50, 75])
    return Timing(median=float(median), iqr=float(q75 - q25), q25=float(q25),
                  q75=float(q75), samples=len(times), runs_per_sample=1,
                  contention=contention)


# --------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------

def peak_allocated_bytes(fn: Callable[[], Any], smoke: bool = False) -> int:
    """Peak bytes held by torch's CPU allocator while ``fn()`` runs, above
    the amount held when it started.

    Why this method: ``tracemalloc`` only sees Python's allocator, not
    torch's; process RSS is blurred by glibc keeping freed pages and by
    memory touched in earlier calls. With ``profile_memory=True`` the
    profiler records every allocation and free through c10's CPU allocator
    together with the running total of bytes it allocated since profiling
    started, which is exactly the quantity wanted. The profiler slows the
    call down, so memory is always measured in a separate call from timing.
    Tensors created before the call and freed during it do not lower the
    count (their frees are unknown to the reporter), so the number is the
    peak of *new* allocations, which is what a layer adds to a model.
    ``smoke`` (a ``--smoke`` run) skips the garbage collection.
    """
    if not smoke:  # a full collection takes ~0.5 s once dynamo is loaded
        gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True,
                 record_shapes=False, with_stack=False) as prof:
        fn()
    return _peak_from_profile(prof)


def _peak_from_profile(prof) -> int:
    try:
        # private, and not in every torch build: hence here, in the try
        from torch._C._profiler import _EventType
        roots = prof.profiler.kineto_results.experimental_event_tree()
    except Exception:  # pragma: no cover - fallback for other torch builds
        return _peak_from_function_events(prof)
    samples = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            fields = node.extra_fields
            if fields.device.type == 'cpu':
                samples.append((node.start_time_ns, int(fields.alloc_size),
                                int(fields.total_allocated)))
        stack.extend(node.children)
    if not samples:
        return 0
    samples.sort()
    # the running total starts at 0 when profiling starts
    return max(0, max(total for _, _, total in samples))


def _peak_from_function_events(prof) -> int:  # pragma: no cover
    events = sorted((e for e in prof.events() if e.name == '[memory]'),
                    key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:
        live += e.cpu_memory_usage
        peak = max(peak, live)
    return peak


# --------------------------------------------------------------------------
# output files
# --------------------------------------------------------------------------

def atomic_write_json(path: Path, records: List[Dict[str, Any]]) -> None:
    """Records as a JSON list; NaN/inf become ``null`` (strict JSON)."""
    text = json.dumps(_json_safe(records), indent=2, allow_nan=False)
    write_text_atomic(path, text + '\n')


def write_report(out: Path, suite: str, records: List[Dict[str, Any]],
                 markdown: str,
                 figure: Optional[Callable[[Path], None]] = None) -> None:
    """A suite's ``<suite>.json`` (``records``), ``<suite>.md`` and, given
    ``figure`` (called with the path), ``<suite>.png``; a figure that fails
    (no matplotlib) is logged, never allowed to lose the data."""
    atomic_write_json(out / f'{suite}.json', records)
    write_text_atomic(out / f'{suite}.md', markdown)
    written = f'{out / (suite + ".json")} and {suite}.md'
    if figure is not None:
        try:
            figure(out / f'{suite}.png')
            written = f'{out / (suite + ".json")}, {suite}.md, {suite}.png'
        except Exception as exc:
            log(f'{suite}: no picture ({exc!r})')
    log(f'{suite}: wrote {written}')


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer, )):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        obj = float(obj)
        return obj if math.isfinite(obj) else None
    return obj


def atomic_save_figure(fig, path: Path) -> None:
    """A report's figure, written atomically at the reports' resolution."""
    save_figure_atomic(fig, path, dpi=110, bbox_inches='tight')


def fmt(value: Optional[float], digits: int = 2) -> Optional[str]:
    """Fixed-point text, or ``None`` for a missing value."""
    if value is None or (isinstance(value, float) and
                         not math.isfinite(value)):
        return None
    return f'{value:.{digits}f}'


def header_lines(title: str, env: Dict[str, Any],
                 opts: RunOptions) -> List[str]:
    """Common head of every Markdown report."""
    malloc = ('keeps freed memory (models.common.allocator)'
              if env.get('malloc_keeps_freed_memory') else 'default settings')
    return [f'# {title}', '',
            f"*{env['date']}; {env['cpu']} ({env['cpu_capability']}), "
            f"{env['logical_cpus']} logical CPUs, **{env['threads']} torch "
            f"thread(s)**; Python {env['python']}, torch {env['torch']}, "
            f"torch_geometric {env['torch_geometric']}; malloc "
            f"{malloc}"
            f"{_size_note(opts)}.*", '']


def _size_note(opts: RunOptions) -> str:
    if opts.smoke:
        return ('; **--smoke run (tiny shapes, three calls per timing): '
                'checks the code and the files, its timings mean nothing**')
    return '; --quick run (reduced sizes)' if opts.quick else ''

"""Measuring the layers: each one right after a fresh measurement of the
reference, so that every ratio pairs two timings taken seconds apart."""
import statistics
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple, Union

import torch
from torch import Tensor

from benchmarks import _common as common
from benchmarks.layer.cases import Entry
from benchmarks.layer.record import REFERENCE, LayerRecord


@dataclass(frozen=True)
class Settings:
    """How long to time each thing (see :func:`common.time_callable`)."""
    min_run_time: float
    min_samples: int
    warmup: int
    max_time: float
    smoke: bool = False


@dataclass
class Measurement:
    """Forward and forward+backward timings of one thing, and their peak
    memory in bytes (``None`` where memory was not measured)."""
    fwd: common.Timing
    fwdbwd: common.Timing
    mem_fwd: Optional[int] = None
    mem_fwdbwd: Optional[int] = None


def measure(entry: Entry, x: Tensor, grad_out: Tensor, threads: int,
            settings: Settings, memory: bool = True) -> Measurement:
    """Forward and forward+backward timings and (with ``memory``) peak
    memory of one entry."""
    inputs = ([x] if entry.grad_x else []) + \
        [p for p in entry.params if p.requires_grad]

    def fwd():
        with torch.no_grad():
            return entry.forward(x)

    def fwdbwd():
        out = entry.forward(x)
        return torch.autograd.grad(out, inputs, grad_out)

    kw = dict(threads=threads, min_run_time=settings.min_run_time,
              min_samples=settings.min_samples, warmup=settings.warmup,
              max_time=settings.max_time, smoke=settings.smoke)
    t_fwd = common.time_callable(fwd, **kw)
    t_bwd = common.time_callable(fwdbwd, **kw)
    if not memory:
        return Measurement(t_fwd, t_bwd)
    return Measurement(
        t_fwd, t_bwd,
        common.peak_allocated_bytes(fwd, smoke=settings.smoke),
        common.peak_allocated_bytes(fwdbwd, smoke=settings.smoke))


def _worst(shares: Iterable[Optional[float]]) -> Optional[float]:
    """Largest CPU share other processes took during any of the timings a
    record (or its ratio) rests on."""
    known = [s for s in shares if s is not None]
    return max(known) if known else None


def record_of(name: str, case: str, m: Measurement, ref: Measurement,
              threads: int, layout: str = '', note: str = '',
              macs: Optional[int] = None) -> LayerRecord:
    """The row of ``m``, its ratios taken against ``ref``."""
    return LayerRecord(
        name=name, case=case,
        fwd_ms=m.fwd.median_ms, fwdbwd_ms=m.fwdbwd.median_ms,
        peak_mem_mb=m.mem_fwdbwd / 2**20,
        ratio_to_reference=m.fwdbwd.median / ref.fwdbwd.median,
        fwd_ratio_to_reference=m.fwd.median / ref.fwd.median,
        fwd_iqr_ms=m.fwd.iqr_ms, fwdbwd_iqr_ms=m.fwdbwd.iqr_ms,
        fwd_samples=m.fwd.samples, fwdbwd_samples=m.fwdbwd.samples,
        peak_mem_fwd_mb=m.mem_fwd / 2**20,
        layout=layout, note=note, threads=threads, macs_fwd=macs,
        fwd_gflops=(2 * macs / m.fwd.median / 1e9) if macs else None,
        contention=_worst((m.fwd.contention, m.fwdbwd.contention,
                           ref.fwd.contention, ref.fwdbwd.contention)))


def _median_share(shares: Iterable[Optional[float]]) -> Optional[float]:
    known = [s for s in shares if s is not None]
    return statistics.median(known) if known else None


def _peak_memory(ms: List[Measurement]) -> Tuple[Optional[int],
                                                 Optional[int]]:
    """The largest forward and forward+backward peaks of those of ``ms``
    that measured memory."""
    mems = [m for m in ms if m.mem_fwd is not None]
    return (max((m.mem_fwd for m in mems), default=None),
            max((m.mem_fwdbwd for m in mems), default=None))


def median_measurement(ms: List[Measurement]) -> Measurement:
    """One summary of repeated measurements of the same thing: the median
    of their medians (robust to a slow spell of the host), their mean IQR,
    and the memory of the run that measured it."""
    def med(ts: List[common.Timing]) -> common.Timing:
        return common.Timing(
            median=statistics.median(t.median for t in ts),
            iqr=statistics.fmean(t.iqr for t in ts),
            q25=statistics.median(t.q25 for t in ts),
            q75=statistics.median(t.q75 for t in ts),
            samples=sum(t.samples for t in ts),
            runs_per_sample=min(t.runs_per_sample for t in ts),
            contention=_median_share(t.contention for t in ts))
    return Measurement(med([m.fwd for m in ms]),
                       med([m.fwdbwd for m in ms]), *_peak_memory(ms))


def sum_parts(ms: List[Measurement]) -> Measurement:
    """The reference of a case measured in parts: their times (and IQRs)
    added, the largest part's memory."""
    def add(ts: List[common.Timing]) -> common.Timing:
        return common.Timing(
            median=sum(t.median for t in ts), iqr=sum(t.iqr for t in ts),
            q25=sum(t.q25 for t in ts), q75=sum(t.q75 for t in ts),
            samples=min(t.samples for t in ts),
            runs_per_sample=min(t.runs_per_sample for t in ts),
            contention=_worst(t.contention for t in ts))
    return Measurement(add([m.fwd for m in ms]),
                       add([m.fwdbwd for m in ms]), *_peak_memory(ms))


@dataclass
class Case:
    """One case's inputs: the layers to time, the reference (one entry, or
    ``parts`` summed), the input and the output gradient."""
    name: str
    entries: List[Entry]
    reference: Optional[Entry]
    parts: List[Entry]
    x: Tensor
    grad_out: Tensor


#: One measurement of a case's reference: the reference's summary and, if
#: it is measured in parts, each part with its own measurement.
ReferenceRun = Tuple[Measurement, List[Tuple[Entry, Measurement]]]


def _measure_reference(case: Case, threads: int, settings: Settings,
                       memory: bool) -> ReferenceRun:
    if case.reference is not None:
        return measure(case.reference, case.x, case.grad_out, threads,
                       settings, memory), []
    parts = []
    for part in case.parts:
        g = torch.randn(part.forward(case.x).shape)
        parts.append((part, measure(part, case.x, g, threads, settings,
                                    memory)))
    return sum_parts([m for _, m in parts]), parts


def run_case(case: Case, threads: int,
             settings: Settings) -> List[LayerRecord]:
    """Measure every entry right after a fresh measurement of the reference.

    The host's speed drifts on a shared VM (the ``reference_spread`` of a
    report shows by how much), so a reference measured once, minutes away
    from an entry, can make any ratio wrong. Each ratio therefore pairs an
    entry with the reference measured just before it; the reference record
    reports the median and the spread of all its measurements
    (``reference_spread``). Peak memory does not drift and is measured
    once per thing.
    """
    ref_name = (case.reference.name if case.reference is not None
                else REFERENCE)
    common.log(f'layer: {case.name}: {ref_name}')
    ref_runs = [_measure_reference(case, threads, settings, memory=True)]
    rows: List[Tuple[Entry, Union[Measurement, Exception], Measurement]] = []
    for k, entry in enumerate(case.entries):
        if k:  # the first entry pairs with the reference measured above
            ref_runs.append(_measure_reference(case, threads, settings,
                                               memory=False))
        common.log(f'layer: {case.name}: {entry.name}')
        try:
            m = measure(entry, case.x, case.grad_out, threads, settings)
        except Exception as exc:  # one broken path must not hide the rest
            common.log(f'layer: {case.name}: {entry.name} FAILED: {exc!r}')
            m = exc
        rows.append((entry, m, ref_runs[-1][0]))
    records = _reference_records(case, ref_runs, threads)
    return records + [_entry_record(case.name, entry, m, paired_ref,
                                    threads)
                      for entry, m, paired_ref in rows]


def _reference_records(case: Case, ref_runs: List[ReferenceRun],
                       threads: int) -> List[LayerRecord]:
    """The records of the reference's parts (if any) and of the reference,
    the median of its repeated measurements ``ref_runs``."""
    ref = median_measurement([r for r, _ in ref_runs])
    spread = [min(r.fwdbwd.median for r, _ in ref_runs) * 1e3,
              max(r.fwdbwd.median for r, _ in ref_runs) * 1e3]
    records = []
    for i, part in enumerate(case.parts):
        m = median_measurement([parts[i][1] for _, parts in ref_runs])
        records.append(record_of(part.name, case.name, m, ref, threads,
                                 note='part of the reference',
                                 macs=part.macs))
    entry = case.reference
    note = entry.note if entry is not None else (
        'sum of the parts above (medians and IQRs added, peak memory the '
        'largest part)')
    ref_macs = (entry.macs if entry is not None else
                sum(p.macs or 0 for p in case.parts) or None)
    records.append(record_of(
        REFERENCE, case.name, ref, ref, threads,
        entry.layout if entry else '',
        note + f'; measured {len(ref_runs)} times, once before each layer; '
        f'median of those shown', macs=ref_macs))
    records[-1].reference_spread_fwdbwd_ms = spread
    common.log(f'layer: {case.name}: reference fwd+bwd median '
               f'{ref.fwdbwd.median_ms:.3f} ms over {len(ref_runs)} '
               f'measurements, spread {spread[0]:.3f}-{spread[1]:.3f} ms')
    return records


def _entry_record(case: str, entry: Entry,
                  m: Union[Measurement, Exception], paired_ref: Measurement,
                  threads: int) -> LayerRecord:
    """One entry's record against the reference measured just before it
    (``m`` is the exception where its measurement failed)."""
    if isinstance(m, Exception):
        return LayerRecord(entry.name, case, layout=entry.layout,
                           threads=threads, note=f'failed: {m!r}')
    r = record_of(entry.name, case, m, paired_ref, threads, entry.layout,
                  entry.note, entry.macs)
    common.log(f"layer:   {entry.name}: fwd {m.fwd.short()}, fwd+bwd "
               f"{m.fwdbwd.short()}, x{r.ratio_to_reference:.2f} "
               f"of the reference measured just before, peak "
               f"{r.peak_mem_mb:.1f} MiB")
    return r

"""The machine's GEMM rate, the denominator of every efficiency."""
from typing import Any, Dict, List

import torch
import torch.nn.functional as F

from benchmarks import _common as common
from benchmarks.model._shared import record
from benchmarks.options import RunOptions
from pyg_wj.utils import linear as onednn_capable_linear
from pyg_wj.utils import onednn_inference_available


def gemm_size(smoke: bool) -> int:
    """Side of the square GEMM that measures the machine's rate: 2048, or
    512 in a ``--smoke`` run (whose rates mean nothing anyway)."""
    return 512 if smoke else 2048


def gemm_records(opts: RunOptions) -> List[Dict[str, Any]]:
    """fp32 2048^3 GEMM, a model-shaped fp32 GEMM and a model-shaped bf16
    GEMM. ``gemm_gflops`` counts 2 FLOPs per multiply-add."""
    runs = 0.3 if opts.quick else 1.0
    records = []
    torch.manual_seed(0)

    def one(name, m, k, n, dtype, min_run_time, fn=F.linear):
        a = torch.randn(m, k).to(dtype)
        b = torch.randn(n, k).to(dtype)  # F.linear layout, as nn.Linear
        t = common.time_callable(lambda: fn(a, b), opts.threads,
                                 min_run_time=min_run_time, min_samples=5,
                                 warmup=2, max_time=20.0, smoke=opts.smoke)
        gflops = 2 * m * k * n / t.median / 1e9
        common.log(f'model: {name}: {gflops:.1f} GFLOP/s ({t.short()})')
        records.append(record(name, None, 'gemm', None, None, None, gflops,
                               t, opts.threads, shape=[m, k, n],
                               dtype=str(dtype).replace('torch.', '')))

    n = gemm_size(opts.smoke)
    one(f'GEMM fp32 {n}x{n} @ {n}x{n}', n, n, n, torch.float32, runs)
    if onednn_inference_available():
        one(f'GEMM fp32 {n}x{n} @ {n}x{n} oneDNN', n, n, n,
            torch.float32, runs, onednn_gemm)
    # the first WJ layer of paper-t1 (tiny's in a --smoke run)
    rows, k, m = ((8 * 17, 32, 64) if opts.smoke else
                  ((64 if opts.quick else 256) * 17, 384, 1536))
    one(f'GEMM fp32 model shape [{rows},{k}] @ [{k},{m}]', rows, k, m,
        torch.float32, runs)
    rows = 8 * 17 if opts.smoke else 1088
    one(f'GEMM bf16 model shape [{rows},{k}] @ [{k},{m}]', rows, k, m,
        torch.bfloat16, runs)
    return records


def onednn_gemm(a, b, bias=None, activation=None):
    with torch.no_grad():
        return onednn_capable_linear(a, b, bias, activation)


class GemmRate:
    """The fp32 2048^3 GEMM rate, re-measured right after each model
    measurement, with the default ``F.linear`` and with oneDNN; the faster
    is the machine's rate (on the AVX-512 CPU of the docs oneDNN's 217
    GFLOP/s against MKL's 185).

    On a shared or throttled machine the GEMM rate drifts during a run
    (on the 2-core VM these benchmarks were written on it moved between
    about 65 and 130 GFLOP/s), so an efficiency computed against one rate
    measured minutes earlier can even exceed 100%. Dividing by the rate
    measured seconds later, under the same conditions, keeps the ratio
    meaningful; every reading is kept for the report.
    """

    def __init__(self, opts: RunOptions):
        self.opts = opts
        self.min_run_time = 0.2 if opts.quick else 0.4
        torch.manual_seed(0)
        self.n = gemm_size(opts.smoke)
        self.a = torch.randn(self.n, self.n)
        self.b = torch.randn(self.n, self.n)
        self.readings: List[float] = []
        self.default_readings: List[float] = []

    def _rate(self, fn) -> float:
        t = common.time_callable(lambda: fn(self.a, self.b),
                                 self.opts.threads,
                                 min_run_time=self.min_run_time,
                                 min_samples=3, warmup=1, max_time=5.0,
                                 smoke=self.opts.smoke)
        return 2 * self.n**3 / t.median / 1e9

    def measure(self) -> float:
        """The best rate now; the default ``F.linear``'s is kept in
        :attr:`last_default`."""
        self.last_default = self._rate(F.linear)
        rate = self.last_default
        if onednn_inference_available():
            rate = max(rate, self._rate(onednn_gemm))
        self.default_readings.append(self.last_default)
        self.readings.append(rate)
        return rate

    def extra(self, macs: int, poses_per_s: float) -> Dict[str, float]:
        """The efficiency against the default ``F.linear`` rate, for the
        record."""
        return {'gemm_default_gflops': self.last_default,
                'efficiency_vs_default_gemm':
                    macs * 2 * poses_per_s / (self.last_default * 1e9)}

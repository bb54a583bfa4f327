"""Helpers the model benchmark's measurements share: the record
layout, inputs, timer settings, agreement with the plain model and a clean
``torch.compile``."""
from typing import Any, Dict, Optional

import torch

from benchmarks import _common as common
from benchmarks.options import RunOptions


def record(name: str, preset: Optional[str], mode: str,
            batch: Optional[int], poses_per_s: Optional[float],
            efficiency: Optional[float], gemm_gflops: Optional[float],
            timing: Optional[common.Timing] = None, threads: int = 0,
            **extra) -> Dict[str, Any]:
    rec = {'name': name, 'preset': preset, 'mode': mode, 'batch': batch,
           'poses_per_s': poses_per_s, 'efficiency': efficiency,
           'gemm_gflops': gemm_gflops, 'threads': threads}
    if timing is not None:
        rec.update(median_ms=timing.median_ms, iqr_ms=timing.iqr_ms,
                   samples=timing.samples, contention=timing.contention)
        if batch:
            # poses/s at the first and third quartile of the step time
            rec['poses_per_s_iqr'] = [batch / timing.q75, batch / timing.q25]
    rec.update(extra)
    return rec


def fresh_compile(model):
    """``torch.compile`` with a clean slate.

    Dynamo caches compiled code per Python code object, so every
    ``MLPGraphWJ`` instance shares one cache of ``forward``; after a few
    presets and modes it hits ``recompile_limit`` and silently runs eager.
    Resetting before each model avoids that, and the on-disk FX graph
    cache is switched off so ``first_call_s`` is the honest compile time.
    """
    # dynamo and inductor take seconds to import, and only the compile
    # mode of the full run needs them
    import torch._dynamo
    import torch._inductor.config as inductor_config
    torch._dynamo.reset()
    inductor_config.fx_graph_cache = False
    return torch.compile(model)


def random_inputs(cfg, batch: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, cfg.frames, cfg.joints, 2, generator=gen) * 2 - 1
    y = torch.randn(batch, cfg.joints, 3, generator=gen) * 0.2
    return x, y


def timer_settings(first_call_s: float, compiled: bool,
                   opts: RunOptions) -> Dict[str, Any]:
    """Timer settings after one untimed first call of ``first_call_s``.

    That first call is the warm-up of an eager model (a compiled one gets
    one more, its first call having been mostly compilation). ``max_time``
    caps the timed part, so calls that take many seconds (bf16 on CPUs
    without native bf16: ~25 s per batch of 1024 poses) get fewer samples;
    the records say how many.
    """
    kw = dict(warmup=1 if compiled else 0, per_call_hint=first_call_s,
              smoke=opts.smoke)
    if opts.quick:
        return dict(min_run_time=0.2, min_samples=3, max_time=4.0, **kw)
    return dict(min_run_time=1.0, min_samples=5, max_time=20.0, **kw)


def agreement_with_plain(plain, call, x) -> Dict[str, float]:
    """Largest difference from the plain eager fp32 model (no blocking),
    absolute and relative to the output's scale (its largest magnitude)."""
    with plain.fast_paths(inference_blocking=False), torch.inference_mode():
        ref = plain(x)
    diff = float((call().float() - ref).abs().max())
    scale = float(ref.abs().max())
    return {'max_abs_diff_vs_eager': diff,
            'max_rel_diff_vs_eager': diff / max(scale, 1e-12)}


def arithmetic_limit(macs_per_pose: int, batch: int, seconds: float,
                     gemm_gflops: float) -> Dict[str, float]:
    """A call's arithmetic limit, its multiply-adds at the measured GEMM
    rate (2 FLOPs each), and how many times that the call took."""
    limit_s = 2 * macs_per_pose * batch / (gemm_gflops * 1e9)
    return {'arithmetic_limit_ms': 1e3 * limit_s,
            'times_arithmetic_limit': seconds / limit_s}

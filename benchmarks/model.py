"""``python -m benchmarks model``: pose-model throughput against the GEMM
rate of the machine.

* The machine's fp32 GEMM rate is measured first, in the same process and
  thread setting: a 2048^3 matmul with PyTorch's default ``F.linear``
  (MKL on x86) and with oneDNN (:func:`pyg_wj.utils.linear`'s kernel),
  the faster of the two being the denominator of every efficiency; then a
  GEMM of the model's own shape, plus a bf16 GEMM of the model's shape
  (CPUs without native bf16 run it far slower than fp32).
* Inference: ``MLPGraphWJ`` in eval mode under ``torch.inference_mode``
  at several batch sizes, in fp32, under bf16 autocast and compiled with
  ``torch.compile``; ``fp32-unblocked`` and ``fp32-no-onednn`` turn one
  lever off each (cache blocking, oneDNN GEMMs) to show what it buys.
* Training step: forward + backward + AMSGrad step on the paper's loss
  (eq. 11) at batch 256, in the same three modes.
* Efficiency = analytic multiply-adds per pose (:mod:`.counting`, the
  count the ``flops`` suite checks against fvcore) x 2 x poses/s, divided
  by the best fp32 GEMM rate measured right after that row (see
  :class:`LocalGemm`); ``efficiency_vs_default_gemm`` divides by the
  default ``F.linear`` rate instead. It says how much of the machine's
  GEMM speed the model turns into useful arithmetic; element-wise work,
  memory traffic, thin GEMMs and framework overhead are what lower it.
* The data loader (``models.pose.data.loader.PoseWindows``) is measured
  beside the training step.
* ONNX Runtime: the same model exported by :mod:`models.pose.export` and
  run by ``onnxruntime`` (CPU, the same thread count) at batch 1 (latency)
  and the throughput batch, beside PyTorch's fp32 rows of the same run
  (``ratio_to_pytorch_fp32``); skipped, with the extra to install named,
  when ``onnx``/``onnxruntime`` are missing.
"""
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks import _common as common
from benchmarks import counting
from models.pose.io_utils import write_text_atomic
from models.pose.loss import loss_eq11
from models.pose.tables import markdown_table
from pyg_wj.utils import linear as onednn_capable_linear
from pyg_wj.utils import onednn_inference, onednn_inference_available


def _record(name: str, preset: Optional[str], mode: str,
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


# --------------------------------------------------------------------------
# GEMM rate
# --------------------------------------------------------------------------

def _gemm_size() -> int:
    """Side of the square GEMM that measures the machine's rate: 2048, or
    512 in a ``--smoke`` run (whose rates mean nothing anyway)."""
    return 512 if common.smoke() else 2048


def gemm_records(threads: int, quick: bool) -> List[Dict[str, Any]]:
    """fp32 2048^3 GEMM, a model-shaped fp32 GEMM and a model-shaped bf16
    GEMM. ``gemm_gflops`` counts 2 FLOPs per multiply-add."""
    runs = 0.3 if quick else 1.0
    records = []
    torch.manual_seed(0)

    def one(name, m, k, n, dtype, min_run_time, fn=F.linear):
        a = torch.randn(m, k).to(dtype)
        b = torch.randn(n, k).to(dtype)  # F.linear layout, as nn.Linear
        t = common.time_callable(lambda: fn(a, b), threads,
                                 min_run_time=min_run_time, min_samples=5,
                                 warmup=2, max_time=20.0)
        gflops = 2 * m * k * n / t.median / 1e9
        common.log(f'model: {name}: {gflops:.1f} GFLOP/s ({t.short()})')
        records.append(_record(name, None, 'gemm', None, None, None, gflops,
                               t, threads, shape=[m, k, n],
                               dtype=str(dtype).replace('torch.', '')))

    n = _gemm_size()
    one(f'GEMM fp32 {n}x{n} @ {n}x{n}', n, n, n, torch.float32, runs)
    if onednn_inference_available():
        one(f'GEMM fp32 {n}x{n} @ {n}x{n} oneDNN', n, n, n,
            torch.float32, runs, _onednn_gemm)
    # the first WJ layer of paper-t1 (tiny's in a --smoke run)
    rows, k, m = ((8 * 17, 32, 64) if common.smoke() else
                  ((64 if quick else 256) * 17, 384, 1536))
    one(f'GEMM fp32 model shape [{rows},{k}] @ [{k},{m}]', rows, k, m,
        torch.float32, runs)
    rows = 8 * 17 if common.smoke() else 1088
    one(f'GEMM bf16 model shape [{rows},{k}] @ [{k},{m}]', rows, k, m,
        torch.bfloat16, runs)
    return records


def _onednn_gemm(a, b, bias=None, activation=None):
    with torch.no_grad():
        return onednn_capable_linear(a, b, bias, activation)


class LocalGemm:
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

    def __init__(self, threads: int, quick: bool):
        self.threads = threads
        self.min_run_time = 0.2 if quick else 0.4
        torch.manual_seed(0)
        self.n = _gemm_size()
        self.a = torch.randn(self.n, self.n)
        self.b = torch.randn(self.n, self.n)
        self.readings: List[float] = []
        self.default_readings: List[float] = []

    def _rate(self, fn) -> float:
        t = common.time_callable(lambda: fn(self.a, self.b), self.threads,
                                 min_run_time=self.min_run_time,
                                 min_samples=3, warmup=1, max_time=5.0)
        return 2 * self.n**3 / t.median / 1e9

    def measure(self) -> float:
        """The best rate now; the default ``F.linear``'s is kept in
        :attr:`last_default`."""
        self.last_default = self._rate(F.linear)
        rate = self.last_default
        if onednn_inference_available():
            rate = max(rate, self._rate(_onednn_gemm))
        self.default_readings.append(self.last_default)
        self.readings.append(rate)
        return rate

    def extra(self, macs: int, poses_per_s: float) -> Dict[str, float]:
        """The efficiency against the default ``F.linear`` rate, for the
        record."""
        return {'gemm_default_gflops': self.last_default,
                'efficiency_vs_default_gemm':
                    macs * 2 * poses_per_s / (self.last_default * 1e9)}


# --------------------------------------------------------------------------
# ceiling from the parts
# --------------------------------------------------------------------------

def _model_parts(cfg, block: int, joint_rows: int):
    """The inference work of one mixer block as ``(name, kind, shape,
    per_pose)``: GEMMs ``[m, k] x [k, n]`` at the shape the blocked model
    runs them (``per_pose`` = multiply-adds per pose), and the exact GELUs
    of the graph mixing (``per_pose`` = elements per pose). The
    joint-mixing GELU is fused into ``fc1``'s GEMM, as the model runs it."""
    J, Fc, R = cfg.joints, cfg.channels, cfg.hidden
    rows = block * J
    return [
        ('WJ 1 x [W1|W2]', 'gemm', (rows, Fc, 2 * R), J * Fc * 2 * R),
        ('WJ 2 x [W1|W2]', 'gemm', (rows, R, 2 * Fc), J * R * 2 * Fc),
        ('WJ 1 x0 W3', 'gemm', (rows, Fc, R), J * Fc * R),
        ('WJ 2 x0 W3', 'gemm', (rows, R, Fc), J * R * Fc),
        ('joint fc1 (K = joints) + GELU', 'gemm-gelu', (joint_rows, J, Fc),
         Fc * J * Fc),
        ('joint fc2 (N = joints)', 'gemm', (joint_rows, Fc, J), Fc * Fc * J),
        ('graph-mixing GELU', 'gelu', (rows, R + Fc), J * (R + Fc)),
    ]


def ceiling_records(preset: str, threads: int, gemm: LocalGemm,
                    quick: bool) -> List[Dict[str, Any]]:
    """Each part of the model timed alone at its own shape, fp32 (the faster
    of ``F.linear`` and oneDNN) and bf16; their sum is the fastest the
    model could run if nothing else (norms, residual adds, the Omega
    combination, the 17 x 17 adjacency products, copies, Python) cost any
    time. Gives the efficiency ceiling of fp32 and the speed-up ceiling of
    bf16."""
    from models.pose.model import JointMixing, MLPGraphWJ, preset_config

    cfg = preset_config(preset)
    block = MLPGraphWJ.inference_batch_block
    parts = _model_parts(cfg, block, JointMixing.inference_chunk_rows)
    runs = dict(min_run_time=0.1 if quick else 0.3, min_samples=5, warmup=2,
                max_time=5.0)
    torch.manual_seed(0)
    records, time_fp32, time_bf16, macs = [], 0.0, 0.0, 0
    for name, kind, shape, per_pose in parts:
        # a GEMM's work is 2 FLOPs per multiply-add, a GELU's 1 per element
        per_item = 1 if kind == 'gelu' else 2
        rates = {}
        for dtype in (torch.float32, torch.bfloat16):
            if kind == 'gelu':
                x = torch.randn(*shape).to(dtype)
                calls = {'F.gelu': lambda x=x: F.gelu(x)}
            else:
                m, k, n = shape
                a = torch.randn(m, k).to(dtype)
                w = torch.randn(n, k).to(dtype)
                b = torch.randn(n).to(dtype)
                act = 'gelu' if kind == 'gemm-gelu' else None
                calls = {'F.linear': (
                    lambda a=a, w=w, b=b, act=act:
                    F.gelu(F.linear(a, w, b)) if act else F.linear(a, w, b))}
                if dtype == torch.float32 and onednn_inference_available():
                    calls['oneDNN'] = (lambda a=a, w=w, b=b, act=act:
                                       _onednn_gemm(a, w, b, act))
            best = None
            for how, fn in calls.items():
                t = common.time_callable(fn, threads, **runs)
                # GFLOP/s or G elements/s
                rate = per_item * math.prod(shape) / t.median / 1e9
                if best is None or rate > best[1]:
                    best = (how, rate)
            rates[str(dtype).replace('torch.', '')] = best
        work_per_pose = per_item * per_pose
        time_fp32 += cfg.layers * work_per_pose / (rates['float32'][1] * 1e9)
        time_bf16 += cfg.layers * work_per_pose / (rates['bfloat16'][1] *
                                                   1e9)
        if kind != 'gelu':
            macs += cfg.layers * per_pose
        unit = 'G elements/s' if kind == 'gelu' else 'GFLOP/s'
        records.append(_record(
            f'{preset} part: {name}', preset, 'part', None, None, None, None,
            threads=threads, shape=list(shape), per_pose=per_pose,
            kind=kind, unit=unit, fp32_rate=rates['float32'][1],
            fp32_kernel=rates['float32'][0], bf16_rate=rates['bfloat16'][1],
            bf16_kernel=rates['bfloat16'][0]))
        common.log(f'model: part {name} {list(shape)}: fp32 '
                   f'{rates["float32"][1]:.1f}, bf16 '
                   f'{rates["bfloat16"][1]:.1f} {unit}')
    rate = gemm.measure()
    efficiency = macs * 2 / time_fp32 / (rate * 1e9)
    records.append(_record(
        f'{preset} ceiling from the parts', preset, 'ceiling', None,
        1.0 / time_fp32, efficiency, rate, threads=threads,
        macs_per_pose=macs, ceiling_ms_per_pose_fp32=1e3 * time_fp32,
        ceiling_ms_per_pose_bf16=1e3 * time_bf16,
        bf16_speedup_ceiling=time_fp32 / time_bf16,
        note='sum of the parts timed alone, everything else free'))
    common.log(f'model: {preset} ceiling from the parts: fp32 '
               f'{1e3 * time_fp32:.3f} ms/pose = {100 * efficiency:.1f}% of '
               f'{rate:.0f} GFLOP/s; bf16 {1e3 * time_bf16:.3f} ms/pose = '
               f'x{time_fp32 / time_bf16:.2f}')
    return records


def _training_gemms(cfg, batch: int):
    """Every GEMM of one training step of a ``wj`` mixer block as
    ``(name, [m, k, n])`` of its forward: in training nothing is blocked,
    so the graph mixing runs on ``batch x joints`` rows and the joint mixing
    on ``batch x channels`` rows."""
    J, Fc, R = cfg.joints, cfg.channels, cfg.hidden
    rows, joint_rows = batch * J, batch * Fc
    return [('WJ 1 x [W1|W2]', (rows, Fc, 2 * R)),
            ('WJ 1 x0 W3', (rows, Fc, R)),
            ('WJ 2 x [W1|W2]', (rows, R, 2 * Fc)),
            ('WJ 2 x0 W3', (rows, R, Fc)),
            ('joint fc1 (K = joints)', (joint_rows, J, Fc)),
            ('joint fc2 (N = joints)', (joint_rows, Fc, J))]


def training_ceiling_records(preset: str, batch: int, threads: int,
                             quick: bool) -> List[Dict[str, Any]]:
    """The training step's GEMMs timed alone, fp32: each forward GEMM
    ``[m, k] x [k, n]`` and its two backward GEMMs, the input gradient
    ``[m, n] x [n, k]`` and the weight gradient ``[n, m] x [m, k]``. Their
    sum over the blocks is the fastest a step could run if everything else
    (GELU, dropout, norms, the adjacency products, the loss, the optimizer,
    autograd's bookkeeping) cost nothing: the denominator of
    ``share_of_parts_ceiling`` in the training rows."""
    from models.pose.model import preset_config

    cfg = preset_config(preset)
    runs = dict(min_run_time=0.1 if quick else 0.3, min_samples=3, warmup=1,
                max_time=5.0)
    torch.manual_seed(0)
    records, step_s = [], 0.0
    for name, (m, k, n) in _training_gemms(cfg, batch):
        a, w, grad = torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)
        products = {'forward': (a, w.t()), 'input grad': (grad, w),
                    'weight grad': (grad.t(), a)}
        times = {key: common.time_callable(
                     lambda x=x, y=y: torch.mm(x, y), threads, **runs).median
                 for key, (x, y) in products.items()}
        part_s = sum(times.values())
        step_s += cfg.layers * part_s
        records.append(_record(
            f'{preset} training part: {name}', preset, 'train-part', batch,
            None, None, None, threads=threads, shape=[m, k, n],
            **{f'{key.replace(" ", "_")}_ms': 1e3 * t
               for key, t in times.items()},
            gflops=3 * 2 * m * k * n / part_s / 1e9))
        common.log(f'model: training part {name} {[m, k, n]}: '
                   f'{1e3 * part_s:.1f} ms for forward + backward')
    records.append(_record(
        f'{preset} training ceiling from the parts', preset,
        'train-ceiling', batch, batch / step_s, None, None, threads=threads,
        ceiling_step_ms=1e3 * step_s,
        note='forward + backward GEMMs timed alone, everything else free'))
    common.log(f'model: {preset} training ceiling from the parts: '
               f'{1e3 * step_s:.0f} ms per step of {batch} = '
               f'{batch / step_s:,.0f} poses/s')
    return records


# --------------------------------------------------------------------------
# inference and training
# --------------------------------------------------------------------------

def _compile(model):
    """``torch.compile`` with a clean slate.

    Dynamo caches compiled code per Python code object, so every
    ``MLPGraphWJ`` instance shares one cache of ``forward``; after a few
    presets and modes it hits ``recompile_limit`` and silently runs eager.
    Resetting before each model avoids that, and the on-disk FX graph
    cache is switched off so ``first_call_s`` is the honest compile time.
    """
    import torch._dynamo
    import torch._inductor.config as inductor_config
    torch._dynamo.reset()
    inductor_config.fx_graph_cache = False
    return torch.compile(model)


def _inputs(cfg, batch: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, cfg.frames, cfg.joints, 2, generator=gen) * 2 - 1
    y = torch.randn(batch, cfg.joints, 3, generator=gen) * 0.2
    return x, y


def _settings(first_call_s: float, compiled: bool,
              quick: bool) -> Dict[str, Any]:
    """Timer settings after one untimed first call of ``first_call_s``.

    That first call is the warm-up of an eager model (a compiled one gets
    one more, its first call having been mostly compilation). ``max_time``
    caps the timed part, so calls that take many seconds (bf16 on CPUs
    without native bf16: ~25 s per batch of 1024 poses) get fewer samples;
    the records say how many.
    """
    kw = dict(warmup=1 if compiled else 0, per_call_hint=first_call_s)
    if quick:
        return dict(min_run_time=0.2, min_samples=3, max_time=4.0, **kw)
    return dict(min_run_time=1.0, min_samples=5, max_time=20.0, **kw)


def _agreement(plain, call, x) -> Dict[str, float]:
    """Largest difference from the plain eager fp32 model (no blocking),
    absolute and relative to the output's scale (its largest magnitude)."""
    from models.pose.model import inference_blocking

    with inference_blocking(False), torch.inference_mode():
        ref = plain(x)
    diff = float((call().float() - ref).abs().max())
    scale = float(ref.abs().max())
    return {'max_abs_diff_vs_eager': diff,
            'max_rel_diff_vs_eager': diff / max(scale, 1e-12)}


def inference_records(preset: str, batches: List[int], modes: List[str],
                      threads: int, gemm: LocalGemm,
                      quick: bool) -> List[Dict[str, Any]]:
    from models.pose.model import MLPGraphWJ, inference_blocking, preset_config

    cfg = preset_config(preset)
    macs = counting.analytic_macs_model(cfg)['total']
    records = []
    torch.manual_seed(0)
    plain = MLPGraphWJ(cfg).eval()
    for mode in modes:
        torch.manual_seed(0)
        model = MLPGraphWJ(cfg).eval()
        net = model
        if mode == 'compile':
            net = _compile(model)
        autocast = (torch.autocast('cpu', dtype=torch.bfloat16)
                    if mode == 'bf16' else nullcontext())
        # 'fp32-unblocked': the model without its inference cache blocking,
        # to show what the blocking buys (MLPGraphWJ, JointMixing);
        # 'fp32-no-onednn': every GEMM through plain F.linear
        blocking = mode != 'fp32-unblocked'
        onednn = mode != 'fp32-no-onednn'
        for batch in batches:
            x, _ = _inputs(cfg, batch)

            def call(net=net, x=x, autocast=autocast, blocking=blocking,
                     onednn=onednn):
                with inference_blocking(blocking), onednn_inference(onednn), \
                        torch.inference_mode(), autocast:
                    return net(x)

            name = f'{preset} eval {mode} batch {batch}'
            common.log(f'model: {name}')
            t0 = time.perf_counter()
            call()  # first call: compilation for torch.compile
            first = time.perf_counter() - t0
            t = common.time_callable(call, threads,
                                    **_settings(first, mode == 'compile',
                                                quick))
            gemm_gflops = gemm.measure()
            pps = batch / t.median
            eff = macs * 2 * pps / (gemm_gflops * 1e9)
            extra = {'first_call_s': first, 'macs_per_pose': macs,
                     **gemm.extra(macs, pps)}
            extra.update(_agreement(plain, call, x))
            if mode == 'compile':
                extra['compile_note'] = ('first_call_s includes compilation '
                                         '(and recompilation for a new '
                                         'batch size)')
            records.append(_record(name, preset, f'eval-{mode}', batch, pps,
                                   eff, gemm_gflops, t, threads, **extra))
            common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                       f'{100 * eff:.1f}% ({t.short()})')
    return records


def _use_torch_dropout(model: torch.nn.Module) -> None:
    """Swap every FastDropout of ``model`` for the ``nn.Dropout`` it
    replaced."""
    from models.pose.dropout import FastDropout

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, FastDropout):
                setattr(module, name, torch.nn.Dropout(child.p))


def training_records(preset: str, batch: int, modes: List[str],
                     threads: int, gemm: LocalGemm, quick: bool,
                     ceiling_poses_per_s: Optional[float] = None
                     ) -> List[Dict[str, Any]]:
    from models.pose.model import MLPGraphWJ, preset_config

    cfg = preset_config(preset)
    macs = counting.analytic_train_macs_model(cfg)
    x, y = _inputs(cfg, batch)
    records = []
    for mode in modes:
        torch.manual_seed(0)
        model = MLPGraphWJ(cfg).train()
        if mode == 'fp32-torch-dropout':
            # the step as it was before FastDropout: nn.Dropout's masks
            _use_torch_dropout(model)
        net = _compile(model) if mode == 'compile' else model
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                     amsgrad=True)
        autocast = (torch.autocast('cpu', dtype=torch.bfloat16)
                    if mode == 'bf16' else nullcontext())

        def step(net=net, optimizer=optimizer, autocast=autocast):
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                pred = net(x)
            loss = loss_eq11(pred.float(), y)
            loss.backward()
            optimizer.step()
            return loss

        name = f'{preset} train step {mode} batch {batch}'
        common.log(f'model: {name}')
        t0 = time.perf_counter()
        step()
        first = time.perf_counter() - t0
        t = common.time_callable(step, threads,
                                **_settings(first, mode == 'compile', quick))
        gemm_gflops = gemm.measure()
        pps = batch / t.median
        eff = macs * 2 * pps / (gemm_gflops * 1e9)
        extra = {}
        if ceiling_poses_per_s:
            extra['share_of_parts_ceiling'] = pps / ceiling_poses_per_s
        records.append(_record(
            name, preset, f'train-{mode}', batch, pps, eff, gemm_gflops, t,
            threads, first_call_s=first, macs_per_pose=macs,
            **gemm.extra(macs, pps), **extra,
            note='forward + backward + AMSGrad step, loss eq. (11); MACs '
            'per pose = 3 x forward - embedding input gradient'))
        share = extra.get('share_of_parts_ceiling')
        common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                   f'{100 * eff:.1f}%' +
                   (f', {100 * share:.0f}% of the parts ceiling'
                    if share else '') + f' ({t.short()})')
    return records


def onnxruntime_records(preset: str, batches: List[int], threads: int,
                        gemm: LocalGemm, quick: bool,
                        pytorch: List[Dict[str, Any]]
                        ) -> List[Dict[str, Any]]:
    """The model exported to ONNX and run by ONNX Runtime, each batch
    beside PyTorch's ``eval-fp32`` row of the same batch in ``pytorch``."""
    from models.pose import export as onnx_export
    from models.pose.model import MLPGraphWJ, preset_config

    cfg = preset_config(preset)
    macs = counting.analytic_macs_model(cfg)['total']
    torch.manual_seed(0)
    model = MLPGraphWJ(cfg).eval()
    try:
        predictor = onnx_export.OnnxPredictor(
            onnx_export.export_bytes(model), threads=threads)
    except onnx_export.MissingDependencyError as exc:
        common.log(f'model: onnxruntime not measured: {exc}')
        return [_record(f'{preset} eval onnxruntime skipped', preset,
                        'eval-onnxruntime', None, None, None, None,
                        threads=threads, note=f'skipped: {exc}')]
    records = []
    for batch in batches:
        x, _ = _inputs(cfg, batch)
        name = f'{preset} eval onnxruntime batch {batch}'
        common.log(f'model: {name}')
        t0 = time.perf_counter()
        predictor(x)
        first = time.perf_counter() - t0
        t = common.time_callable(lambda x=x: predictor(x), threads,
                                 **_settings(first, False, quick))
        gemm_gflops = gemm.measure()
        pps = batch / t.median
        eff = macs * 2 * pps / (gemm_gflops * 1e9)
        torch_pps = next((r['poses_per_s'] for r in pytorch
                          if r['mode'] == 'eval-fp32' and
                          r['preset'] == preset and r['batch'] == batch),
                         None)
        extra = {'first_call_s': first, 'macs_per_pose': macs,
                 **gemm.extra(macs, pps), 'opset': onnx_export.OPSET,
                 'ratio_to_pytorch_fp32':
                     pps / torch_pps if torch_pps else None}
        extra.update(_agreement(model, lambda x=x: predictor(x), x))
        records.append(_record(name, preset, 'eval-onnxruntime', batch, pps,
                               eff, gemm_gflops, t, threads, **extra))
        ratio = extra['ratio_to_pytorch_fp32']
        common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                   f'{100 * eff:.1f}% ({t.short()})' +
                   (f', x{ratio:.2f} PyTorch fp32' if ratio else ''))
    return records


# --------------------------------------------------------------------------
# live streams: one pose per frame
# --------------------------------------------------------------------------

def streaming_records(preset: str, threads: int, gemm: 'LocalGemm',
                      quick: bool) -> List[Dict[str, Any]]:
    """Per-frame latency of :class:`models.pose.streaming.StreamingLifter`
    (what a live application feels): p50 and p99 over a stream of
    frames, each push one batch-1 forward pass plus the lifter's work; with
    the PyTorch model and with the same model in ONNX Runtime."""
    from models.pose import export as onnx_export
    from models.pose.model import MLPGraphWJ, preset_config

    cfg = preset_config(preset)
    torch.manual_seed(0)
    model = MLPGraphWJ(cfg).eval()
    records = [_stream_record(preset, 'stream-fp32', model, cfg, threads,
                              gemm, quick)]
    try:
        predictor = onnx_export.OnnxPredictor(
            onnx_export.export_bytes(model), threads=threads)
    except onnx_export.MissingDependencyError as exc:
        common.log(f'model: onnxruntime stream not measured: {exc}')
        return records
    records.append(_stream_record(preset, 'stream-onnxruntime', predictor,
                                  cfg, threads, gemm, quick))
    return records


def _stream_record(preset: str, mode: str, model, cfg, threads: int,
                   gemm: 'LocalGemm', quick: bool) -> Dict[str, Any]:
    from models.pose.streaming import StreamingLifter

    macs = counting.analytic_macs_model(cfg)['total']
    frames = 30 if common.smoke() else (200 if quick else 1000)
    rng = np.random.default_rng(0)
    stream = rng.uniform(300, 700, (frames + 20, cfg.joints, 2))
    lifter = StreamingLifter(model, cfg.frames, (1000, 1000))
    for kp in stream[:20]:  # warm-up: allocator, kernels, the window
        lifter.push(kp)
    latencies = []
    for kp in stream[20:]:
        t0 = time.perf_counter()
        lifter.push(kp)
        latencies.append(time.perf_counter() - t0)
    lat = np.sort(np.asarray(latencies))
    p50, p99 = float(np.median(lat)), float(np.quantile(lat, 0.99))
    gemm_gflops = gemm.measure()
    pps = 1.0 / p50
    eff = macs * 2 * pps / (gemm_gflops * 1e9)
    common.log(f'model: {preset} {mode}: p50 {1e3 * p50:.2f} ms, p99 '
               f'{1e3 * p99:.2f} ms per frame ({frames} frames)')
    return _record(f'{preset} {mode} lookahead {lifter.lookahead}',
                   preset, mode, 1, pps, eff, gemm_gflops,
                   threads=threads, median_ms=1e3 * p50,
                   iqr_ms=1e3 * float(np.quantile(lat, 0.75) -
                                      np.quantile(lat, 0.25)),
                   samples=frames, latency_p50_ms=1e3 * p50,
                   latency_p99_ms=1e3 * p99, frames=frames,
                   lookahead=lifter.lookahead, macs_per_pose=macs,
                   note='one StreamingLifter.push per frame: a batch-1 '
                   'forward pass plus the window bookkeeping')


# --------------------------------------------------------------------------
# data loader
# --------------------------------------------------------------------------

def loader_records(preset: str, batch: int, threads: int,
                   train_pps: Optional[float],
                   quick: bool) -> List[Dict[str, Any]]:
    """Batches/s of ``PoseWindows.iterate_batches`` as the training loop
    uses it (shuffled, flip augmentation, drop_last), on a synthetic
    prepared data set, beside the training step's consumption."""
    from models.pose.data.loader import PoseWindows
    from models.pose.model import preset_config

    cfg = preset_config(preset)
    frames_per_seq = (200 if common.smoke() else 2_000 if quick else
                      10_000)
    data = synthetic_prepared(num_subjects=2, sequences_per_subject=2,
                              frames=frames_per_seq, cameras=4)
    t0 = time.perf_counter()
    windows = PoseWindows(data, subjects=data.train_subjects,
                          joints=cfg.joints, frames=cfg.frames, source='gt')
    build_s = time.perf_counter() - t0
    steps = 3 if common.smoke() else 20 if quick else 100

    def epoch_slice():
        it = windows.iterate_batches(batch, shuffle=True, seed=0, epoch=0,
                                     flip_augment=True, drop_last=True)
        n = 0
        for _ in zip(range(steps), it):
            n += 1
        return n

    n = epoch_slice()
    if n == 0:
        raise RuntimeError('the synthetic dataset gave no batch')
    t = common.time_callable(epoch_slice, threads, min_run_time=0.5,
                             min_samples=3, warmup=1, max_time=20.0)
    bps = n / t.median
    pps = bps * batch
    note = (f'{n} batches of {batch} per timed call (shuffled, flip '
            f'augmentation on), synthetic prepared dataset of '
            f'{len(windows):,} training windows built in {build_s:.1f} s')
    ratio = None
    if train_pps:
        ratio = pps / train_pps
        note += (f'; the fp32 training step consumes {train_pps:,.0f} '
                 f'poses/s, so the loader delivers {ratio:,.0f}x what it '
                 f'needs (it runs in the training process, so its time adds '
                 f'{100 / ratio:.1f}% to each step)')
    return [_record(f'{preset} data loader batch {batch}', preset, 'loader',
                    batch, pps, None, None, t, threads, batches_per_s=bps,
                    loader_over_train=ratio, build_s=build_s, note=note)]


def synthetic_prepared(num_subjects: int = 2, sequences_per_subject: int = 2,
                       frames: int = 2_000, cameras: int = 4,
                       seed: int = 0):
    """A random but valid dataset in the project's prepared format.

    Built with the format module's own ``assemble_prepared`` and
    checked with its ``validate``, so the loader sees exactly what it would
    read from a prepared file; the values (random walks in metres, pixels
    inside a 1000 x 1000 image) only have to be plausible, not real.
    """
    import numpy as np

    from models.pose.camera import Camera
    from models.pose.data.format import assemble_prepared, make_meta, validate

    rng = np.random.default_rng(seed)
    subjects = [f'S{i + 1}' for i in range(num_subjects)]
    sequences, start = [], 0
    for subject in subjects:
        for a in range(sequences_per_subject):
            sequences.append({'subject': subject, 'action': f'action{a}',
                              'start': start, 'length': frames})
            start += frames
    total = start
    n_seq = len(sequences)
    steps = rng.normal(scale=0.01, size=(total, 17, 3))
    positions = np.cumsum(steps, axis=0) + np.array([0.0, 0.0, 4.0])
    keypoints = rng.uniform(0, 1000, size=(cameras, total, 17, 2))
    meta = make_meta('synthetic', 50.0, sequences,
                     train_subjects=subjects[:-1] or subjects,
                     test_subjects=subjects[-1:], sources=['gt'],
                     provenance={'generator': 'benchmarks.model'})
    camera = Camera(id='synthetic', R=np.eye(3), t=np.zeros(3),
                    intrinsics=np.array([1000, 1000, 500, 500, 0, 0, 0, 0,
                                         0]),
                    resolution=np.array([1000, 1000]))
    data = assemble_prepared(
        meta, np.split(positions, n_seq), [[camera] * cameras] * n_seq,
        {'gt': np.split(keypoints, n_seq, axis=1)})
    validate(data)
    return data


# --------------------------------------------------------------------------
# the suite
# --------------------------------------------------------------------------

def run(out_dir: Path, quick: bool, threads: int) -> List[Dict[str, Any]]:
    env = common.environment(threads)
    records = gemm_records(threads, quick)
    gemm = LocalGemm(threads, quick)
    ceiling_preset = 'paper-t1'
    if common.smoke():  # the code paths and the files, in seconds
        presets, batches = ['tiny'], [1, 8]
        modes, train_batch = ['fp32', 'bf16'], 8
        ceiling_preset = 'tiny'
    elif quick:
        presets, batches = ['paper-t1'], [1, 64]
        modes, train_batch = ['fp32', 'bf16'], 32
    else:
        presets, batches = ['paper-t1', 'paper-t243', 'demo'], [1, 256, 1024]
        modes, train_batch = ['fp32', 'bf16', 'compile'], 256
    records += ceiling_records(ceiling_preset, threads, gemm, quick)
    for preset in presets:
        records += inference_records(
            preset, batches, modes + ['fp32-unblocked', 'fp32-no-onednn'],
            threads, gemm, quick)
        if preset != 'demo':  # ONNX Runtime at batch 1 and 256 (64, 8)
            records += onnxruntime_records(
                preset, [batches[0], batches[1]], threads, gemm, quick,
                records)
        if preset != 'demo':
            records += streaming_records(preset, threads, gemm, quick)
        train_modes = modes
        if preset == 'paper-t243' and 'bf16' in modes:
            # a bf16 training step of batch 256 takes about 40 s on a CPU
            # without native bf16, and paper-t243 differs from paper-t1
            # only in the embedding's input width (+3% MACs)
            train_modes = [m for m in modes if m != 'bf16']
            records.append(_record(
                f'{preset} train step bf16 skipped', preset, 'train-bf16',
                train_batch, None, None, None, threads=threads,
                note='skipped to bound the run time: see paper-t1 train-bf16 '
                '(same architecture apart from the embedding width)'))
        ceiling = None
        if preset == ceiling_preset or preset == 'paper-t1':
            found = training_ceiling_records(preset, train_batch, threads,
                                             quick)
            records += found
            ceiling = found[-1]['poses_per_s']
        records += training_records(
            preset, train_batch, ['fp32-torch-dropout'] + train_modes,
            threads, gemm, quick, ceiling)
    if quick:
        records.append(_record(
            'torch.compile skipped (--quick or --smoke)', None, 'compile',
            None, None, None, None, threads=threads,
            note='skipped in --quick and --smoke: compiling the model takes '
            'about 15-20 s per inference graph and 45-50 s for the training '
            'graph on 2 cores, more than the quick budget; the full run '
            'measures it'))
    for label, found in (('best of default and oneDNN', gemm.readings),
                         ('default F.linear', gemm.default_readings)):
        readings = sorted(found)
        if not readings:
            continue
        records.append(_record(
            f'GEMM fp32 {gemm.n}^3 readings during the run, {label} '
            f'(median)',
            None, 'gemm', None, None, None, readings[len(readings) // 2],
            threads=threads, readings_gflops=readings,
            min_gflops=readings[0], max_gflops=readings[-1],
            note='each efficiency divides by the best reading taken right '
            'after that measurement'))
    for preset in [p for p in presets if p != 'demo']:
        fp32_train = next((r['poses_per_s'] for r in records
                           if r['mode'] == 'train-fp32' and
                           r['preset'] == preset), None)
        common.log(f'model: {preset} data loader')
        records += loader_records(preset, train_batch, threads, fp32_train,
                                  quick)
    common.atomic_write_json(out_dir / 'model.json', records)
    write_text_atomic(out_dir / 'model.md',
                      markdown(records, env, quick))
    try:
        plot(records, out_dir / 'model.png')
    except Exception as exc:
        common.log(f'model: no picture ({exc!r})')
    common.log(f'model: wrote {out_dir / "model.json"}, model.md, model.png')
    return records


def markdown(records: List[Dict[str, Any]], env: Dict[str, Any],
             quick: bool) -> str:
    lines = common.header_lines('Pose-model throughput', env, quick)
    gemm = [r for r in records if r['mode'] == 'gemm']
    lines += [f'**Timing.** {common.TIMING_METHOD}', '',
              '**Efficiency** = analytic multiply-adds per pose x 2 x poses/s '
              f'/ the best fp32 {_gemm_size()}^3 GEMM rate (default '
              '`F.linear` or '
              'oneDNN, whichever is faster) measured right after that row '
              '(column `GEMM GFLOP/s`; the rate drifts on a shared machine); '
              '`eff. vs default GEMM` divides by the default `F.linear` rate '
              'instead. bf16 rows use the same fp32 denominator, to show '
              'how bf16 compares with fp32 on this CPU. Training MACs per '
              'pose = 3 x forward - the embedding\'s input gradient.',
              '', '## GEMM rate of this machine', '']
    rows = []
    for r in gemm:
        if 'readings_gflops' in r:
            rows.append([r['name'], f"{r['gemm_gflops']:.1f}",
                         f"min {r['min_gflops']:.1f}, max "
                         f"{r['max_gflops']:.1f} over "
                         f"{len(r['readings_gflops'])} readings"])
        else:
            rows.append([r['name'], f"{r['gemm_gflops']:.1f}",
                         f"{r['median_ms']:.2f} ms (IQR {r['iqr_ms']:.2f})"])
    lines.append(markdown_table(['GEMM', 'GFLOP/s', 'spread'], rows))
    lines += ceiling_markdown(records)
    lines += ['', '## Inference (eval) and training step', '']
    rows = []
    for r in records:
        if r['mode'] in ('gemm', 'loader', 'part', 'ceiling', 'train-part',
                         'train-ceiling') or r['poses_per_s'] is None:
            continue
        iqr = r.get('poses_per_s_iqr')
        share = r.get('contention')
        flag = share is not None and share > common.CONTENTION_LIMIT
        rows.append([r['preset'], r['mode'] + (' **(contended)**'
                                               if flag else ''), r['batch'],
                     f"{r['poses_per_s']:,.0f}",
                     f'{iqr[0]:,.0f}-{iqr[1]:,.0f}' if iqr else None,
                     f"{r['median_ms']:.1f}", r['samples'],
                     f"{100 * r['efficiency']:.1f}%",
                     None if 'efficiency_vs_default_gemm' not in r else
                     f"{100 * r['efficiency_vs_default_gemm']:.1f}%",
                     f"{r['gemm_gflops']:.1f}",
                     common.fmt(r.get('first_call_s'), 1),
                     None if 'max_rel_diff_vs_eager' not in r else
                     f"{r['max_rel_diff_vs_eager']:.1e}",
                     None if share is None else f'{100 * share:.0f}%'])
    lines.append(markdown_table(
        ['preset', 'mode', 'batch', 'poses/s', 'poses/s IQR',
         'median ms/call', 'n', 'efficiency', 'eff. vs default GEMM',
         'GEMM GFLOP/s',
         'first call s', 'max diff / scale', "others' CPU"], rows))
    lines += ['', 'Inference runs in cache-sized blocks (64 poses at a '
              'time, and the joint-mixing MLP in blocks of 2048 rows; '
              '`models.pose.model.inference_blocking`); `fp32-unblocked` is '
              'the same model with the blocking off; `fp32-no-onednn` runs '
              'every GEMM through plain `F.linear` instead of oneDNN '
              '(`pyg_wj.utils.onednn_inference`); `onnxruntime` runs the '
              'model exported by `python -m models.pose export` (opset '
              '17, traced on the plain path) in ONNX Runtime with the same '
              'thread count. `max diff / scale`: '
              'largest absolute difference from the plain eager fp32 model '
              'over the largest output magnitude.']
    lines += training_ceiling_markdown(records)
    ort = [r for r in records if r['mode'] == 'eval-onnxruntime' and
           r['poses_per_s'] is not None]
    if ort:
        lines += ['', '## ONNX Runtime beside PyTorch fp32', '']
        for r in ort:
            ratio = r.get('ratio_to_pytorch_fp32')
            lines.append(
                f"* {r['preset']} batch {r['batch']}: "
                f"{r['poses_per_s']:,.0f} poses/s, {r['median_ms']:.2f} ms "
                f"per call"
                + (f", **x{ratio:.2f}** PyTorch's fp32 rate in this run"
                   if ratio else ''))
    stream = [r for r in records if r['mode'].startswith('stream-')]
    if stream:
        lines += ['', '## Live streams: latency per frame', '',
                  '`StreamingLifter.push`, one frame at a time (a batch-1 '
                  'forward pass plus the window bookkeeping):', '']
        for r in stream:
            lines.append(
                f"* {r['preset']} {r['mode']}, lookahead {r['lookahead']}: "
                f"p50 "
                f"{r['latency_p50_ms']:.2f} ms, p99 "
                f"{r['latency_p99_ms']:.2f} ms over {r['frames']} frames")
    lines += ['', '## Data loader', '']
    for r in records:
        if r['mode'] == 'loader':
            lines.append(f"* {r['name']}: {r['poses_per_s']:,.0f} "
                         f"poses/s, {r['batches_per_s']:,.1f} batches/s "
                         f"({r['note']})")
    skipped = [r for r in records if r['poses_per_s'] is None and
               r['mode'] not in ('loader', 'gemm', 'part', 'train-part')]
    if skipped:
        lines += ['', '## Not measured', '']
    for r in skipped:
        lines.append(f"* {r['name']}: {r['note']}")
    lines.append('')
    return '\n'.join(lines)


def training_ceiling_markdown(records: List[Dict[str, Any]]) -> List[str]:
    ceilings = [r for r in records if r['mode'] == 'train-ceiling']
    if not ceilings:
        return []
    lines = ['', '## Training step beside its parts ceiling', '',
             'Each GEMM of a training step (forward, input gradient, weight '
             'gradient, at the unblocked shapes training runs) timed alone; '
             'their sum is the step if nothing else cost any time. '
             '`fp32-torch-dropout` is the step with `nn.Dropout` in place of '
             '`FastDropout` (`models.pose.dropout`).', '']
    for c in ceilings:
        parts = [r for r in records if r['mode'] == 'train-part' and
                 r['preset'] == c['preset']]
        lines.append(markdown_table(
            ['GEMM', 'forward shape', 'forward ms', 'input grad ms',
             'weight grad ms', 'GFLOP/s'],
            [[r['name'].split('part: ', 1)[-1],
              'x'.join(map(str, r['shape'])), f"{r['forward_ms']:.1f}",
              f"{r['input_grad_ms']:.1f}", f"{r['weight_grad_ms']:.1f}",
              f"{r['gflops']:.0f}"] for r in parts]))
        lines += ['', f"* ceiling: {c['ceiling_step_ms']:.0f} ms per step "
                  f"of {c['batch']} = {c['poses_per_s']:,.0f} poses/s"]
        for r in records:
            if (r['mode'].startswith('train-') and r['preset'] == c['preset']
                    and r.get('share_of_parts_ceiling') is not None):
                lines.append(f"* {r['mode']}: {r['poses_per_s']:,.0f} "
                             f"poses/s = **"
                             f"{100 * r['share_of_parts_ceiling']:.0f}%** of "
                             f"the ceiling")
    return lines


def ceiling_markdown(records: List[Dict[str, Any]]) -> List[str]:
    parts = [r for r in records if r['mode'] == 'part']
    ceiling = [r for r in records if r['mode'] == 'ceiling']
    if not parts or not ceiling:
        return []
    c = ceiling[0]
    lines = ['', f"## Ceiling from the parts ({c['preset']})", '',
             'Every GEMM of a mixer block at the shape the blocked model runs '
             'it, and the graph-mixing GELUs, timed alone (fp32: the faster '
             'of `F.linear` and oneDNN; bf16: `F.linear` on bf16 tensors, as '
             'under autocast). Their sum is the fastest the model could run '
             'if the norms, residual adds, the Omega combination, the '
             'joints x joints adjacency products, copies and Python cost '
             'nothing.', '']
    rows = [[r['name'].split('part: ', 1)[-1], 'x'.join(map(str, r['shape'])),
             f"{r['per_pose']:,}",
             f"{r['fp32_rate']:.1f} ({r['fp32_kernel']})",
             f"{r['bf16_rate']:.1f}", r['unit']] for r in parts]
    lines.append(markdown_table(
        ['part', 'shape', 'per pose per block', 'fp32 rate', 'bf16 rate',
         'unit'], rows))
    lines += ['', f"Ceiling: fp32 {c['ceiling_ms_per_pose_fp32']:.3f} ms per "
              f"pose = **{100 * c['efficiency']:.1f}%** of the best fp32 "
              f"{_gemm_size()}^3 GEMM rate ({c['gemm_gflops']:.1f} GFLOP/s, "
              f"{c['macs_per_pose']:,} MACs per pose); bf16 "
              f"{c['ceiling_ms_per_pose_bf16']:.3f} ms per pose = "
              f"**x{c['bf16_speedup_ceiling']:.2f}** fp32's ceiling."]
    return lines


def plot(records: List[Dict[str, Any]], path: Path) -> None:
    """Efficiency per preset, mode and batch as grouped bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = [r for r in records if r['efficiency'] is not None and
            r['mode'] != 'ceiling']
    labels = [f"{r['preset']}\n{r['mode']} b{r['batch']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(rows)), 4.5))
    colors = {'fp32': 'C0', 'bf16': 'C1', 'compile': 'C2',
              'fp32-unblocked': 'C3', 'fp32-no-onednn': 'C4',
              'onnxruntime': 'C5'}
    ax.bar(range(len(rows)), [100 * r['efficiency'] for r in rows],
           color=[colors.get(r['mode'].split('-', 1)[-1], 'C7')
                  for r in rows])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_ylabel('% of best fp32 GEMM rate')
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=c, label=m) for m, c in colors.items()],
              fontsize=7)
    threads = rows[0]['threads'] if rows else '?'
    ax.set_title(f'MLP-GraphWJ efficiency: analytic MACs x 2 x poses/s / '
                 f'best fp32 GEMM rate ({threads} threads)', fontsize=9)
    common.atomic_save_figure(fig, path)
    plt.close(fig)

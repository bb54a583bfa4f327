"""Ceilings from the parts: the model's GEMMs (and GELUs) timed alone at
their own shapes, for inference and for a training step."""
import math
from typing import Any, Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F

from benchmarks import _common as common
from benchmarks.model._shared import record
from benchmarks.model.gemm import GemmRate, onednn_gemm
from benchmarks.options import RunOptions
from models.pose.nn.blocks import JointMixing
from models.pose.nn.config import preset_config
from models.pose.nn.model import MLPGraphWJ
from pyg_wj.utils import onednn_inference_available


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


def _part_calls(kind: str, shape, dtype: torch.dtype
                ) -> Dict[str, Callable[[], Any]]:
    """The ways to run one part in ``dtype``: ``F.linear`` (or ``F.gelu``)
    and, for fp32 GEMMs where it is available, oneDNN."""
    if kind == 'gelu':
        x = torch.randn(*shape).to(dtype)
        return {'F.gelu': lambda: F.gelu(x)}
    m, k, n = shape
    a = torch.randn(m, k).to(dtype)
    w = torch.randn(n, k).to(dtype)
    b = torch.randn(n).to(dtype)
    act = 'gelu' if kind == 'gemm-gelu' else None
    calls = {'F.linear': (
        lambda: F.gelu(F.linear(a, w, b)) if act else F.linear(a, w, b))}
    if dtype == torch.float32 and onednn_inference_available():
        calls['oneDNN'] = lambda: onednn_gemm(a, w, b, act)
    return calls


def _part_rates(kind: str, shape, per_item: int, opts: RunOptions,
                runs: Dict[str, Any]) -> Dict[str, Tuple[str, float]]:
    """dtype name -> (fastest kernel, its GFLOP/s or G elements/s)."""
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        best = None
        for how, fn in _part_calls(kind, shape, dtype).items():
            t = common.time_callable(fn, opts.threads, **runs)
            rate = per_item * math.prod(shape) / t.median / 1e9
            if best is None or rate > best[1]:
                best = (how, rate)
        rates[str(dtype).replace('torch.', '')] = best
    return rates


def ceiling_records(preset: str, gemm: GemmRate,
                    opts: RunOptions) -> List[Dict[str, Any]]:
    """Each part of the model timed alone at its own shape, fp32 (the faster
    of ``F.linear`` and oneDNN) and bf16; their sum is the fastest the
    model could run if nothing else (norms, residual adds, the Omega
    combination, the 17 x 17 adjacency products, copies, Python) cost any
    time. Gives the efficiency ceiling of fp32 and the speed-up ceiling of
    bf16."""
    cfg = preset_config(preset)
    block = MLPGraphWJ.inference_batch_block
    parts = _model_parts(cfg, block, JointMixing.inference_chunk_rows)
    runs = dict(min_run_time=0.1 if opts.quick else 0.3, min_samples=5,
                warmup=2, max_time=5.0, smoke=opts.smoke)
    torch.manual_seed(0)
    records, time_fp32, time_bf16, macs = [], 0.0, 0.0, 0
    for name, kind, shape, per_pose in parts:
        # a GEMM's work is 2 FLOPs per multiply-add, a GELU's 1 per element
        per_item = 1 if kind == 'gelu' else 2
        rates = _part_rates(kind, shape, per_item, opts, runs)
        work_per_pose = per_item * per_pose
        time_fp32 += cfg.layers * work_per_pose / (rates['float32'][1] * 1e9)
        time_bf16 += cfg.layers * work_per_pose / (rates['bfloat16'][1] *
                                                   1e9)
        if kind != 'gelu':
            macs += cfg.layers * per_pose
        unit = 'G elements/s' if kind == 'gelu' else 'GFLOP/s'
        records.append(record(
            f'{preset} part: {name}', preset, 'part', None, None, None, None,
            threads=opts.threads, shape=list(shape), per_pose=per_pose,
            kind=kind, unit=unit, fp32_rate=rates['float32'][1],
            fp32_kernel=rates['float32'][0], bf16_rate=rates['bfloat16'][1],
            bf16_kernel=rates['bfloat16'][0]))
        common.log(f'model: part {name} {list(shape)}: fp32 '
                   f'{rates["float32"][1]:.1f}, bf16 '
                   f'{rates["bfloat16"][1]:.1f} {unit}')
    rate = gemm.measure()
    efficiency = macs * 2 / time_fp32 / (rate * 1e9)
    records.append(record(
        f'{preset} ceiling from the parts', preset, 'ceiling', None,
        1.0 / time_fp32, efficiency, rate, threads=opts.threads,
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


def training_ceiling_records(preset: str, batch: int,
                             opts: RunOptions) -> List[Dict[str, Any]]:
    """The training step's GEMMs timed alone, fp32: each forward GEMM
    ``[m, k] x [k, n]`` and its two backward GEMMs, the input gradient
    ``[m, n] x [n, k]`` and the weight gradient ``[n, m] x [m, k]``. Their
    sum over the blocks is the fastest a step could run if everything else
    (GELU, dropout, norms, the adjacency products, the loss, the optimizer,
    autograd's bookkeeping) cost nothing: the denominator of
    ``share_of_parts_ceiling`` in the training rows."""
    cfg = preset_config(preset)
    runs = dict(min_run_time=0.1 if opts.quick else 0.3, min_samples=3,
                warmup=1, max_time=5.0, smoke=opts.smoke)
    torch.manual_seed(0)
    records, step_s = [], 0.0
    for name, (m, k, n) in _training_gemms(cfg, batch):
        a, w, grad = torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)
        products = {'forward': (a, w.t()), 'input grad': (grad, w),
                    'weight grad': (grad.t(), a)}
        times = {key: common.time_callable(
                     lambda x=x, y=y: torch.mm(x, y), opts.threads,
                     **runs).median
                 for key, (x, y) in products.items()}
        part_s = sum(times.values())
        step_s += cfg.layers * part_s
        records.append(record(
            f'{preset} training part: {name}', preset, 'train-part', batch,
            None, None, None, threads=opts.threads, shape=[m, k, n],
            **{f'{key.replace(" ", "_")}_ms': 1e3 * t
               for key, t in times.items()},
            gflops=3 * 2 * m * k * n / part_s / 1e9))
        common.log(f'model: training part {name} {[m, k, n]}: '
                   f'{1e3 * part_s:.1f} ms for forward + backward')
    records.append(record(
        f'{preset} training ceiling from the parts', preset,
        'train-ceiling', batch, batch / step_s, None, None,
        threads=opts.threads,
        ceiling_step_ms=1e3 * step_s,
        note='forward + backward GEMMs timed alone, everything else free'))
    common.log(f'model: {preset} training ceiling from the parts: '
               f'{1e3 * step_s:.0f} ms per step of {batch} = '
               f'{batch / step_s:,.0f} poses/s')
    return records

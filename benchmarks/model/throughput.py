"""Poses per second of the model: inference, the training step, ONNX
Runtime and live streams."""
import time
from contextlib import nullcontext
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from benchmarks import _common as common
from benchmarks import counting
from benchmarks.model._shared import (
    agreement_with_plain,
    arithmetic_limit,
    fresh_compile,
    random_inputs,
    record,
    timer_settings,
)
from benchmarks.model.gemm import GemmRate
from benchmarks.options import RunOptions
from models.pose.deploy.contract import OPSET, MissingDependencyError
from models.pose.deploy.export import export_bytes
from models.pose.deploy.predictor import OnnxPredictor
from models.pose.infer.streaming import StreamingLifter
from models.pose.nn.config import preset_config
from models.pose.nn.cpu.dropout import FastDropout
from models.pose.nn.model import MLPGraphWJ
from models.pose.train.loss import loss_eq11


def inference_records(preset: str, batches: List[int], modes: List[str],
                      gemm: GemmRate,
                      opts: RunOptions) -> List[Dict[str, Any]]:
    cfg = preset_config(preset)
    macs = counting.analytic_macs_model(cfg)['total']
    records = []
    torch.manual_seed(0)
    plain = MLPGraphWJ(cfg).eval()
    for mode in modes:
        torch.manual_seed(0)
        model = MLPGraphWJ(cfg).eval()
        # 'fp32-unblocked': the model without its inference cache blocking,
        # to show what the blocking buys (MLPGraphWJ, JointMixing);
        # 'fp32-no-onednn': every GEMM through plain F.linear
        model.set_fast_paths(inference_blocking=mode != 'fp32-unblocked',
                             onednn=mode != 'fp32-no-onednn')
        net = model
        if mode == 'compile':
            net = fresh_compile(model)
        autocast = (torch.autocast('cpu', dtype=torch.bfloat16)
                    if mode == 'bf16' else nullcontext())
        for batch in batches:
            x, _ = random_inputs(cfg, batch)

            def call(net=net, x=x, autocast=autocast):
                with torch.inference_mode(), autocast:
                    return net(x)

            name = f'{preset} eval {mode} batch {batch}'
            common.log(f'model: {name}')
            t0 = time.perf_counter()
            call()  # first call: compilation for torch.compile
            first = time.perf_counter() - t0
            t = common.time_callable(call, opts.threads,
                                     **timer_settings(first,
                                                      mode == 'compile',
                                                      opts))
            gemm_gflops = gemm.measure()
            pps = batch / t.median
            eff = macs * 2 * pps / (gemm_gflops * 1e9)
            extra = {'first_call_s': first, 'macs_per_pose': macs,
                     **gemm.extra(macs, pps),
                     **arithmetic_limit(macs, batch, t.median, gemm_gflops)}
            extra.update(agreement_with_plain(plain, call, x))
            if mode == 'compile':
                extra['compile_note'] = ('first_call_s includes compilation '
                                         '(and recompilation for a new '
                                         'batch size)')
            records.append(record(name, preset, f'eval-{mode}', batch, pps,
                                   eff, gemm_gflops, t, opts.threads,
                                   **extra))
            common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                       f'{100 * eff:.1f}% ({t.short()})')
    return records


def _use_torch_dropout(model: torch.nn.Module) -> None:
    """Swap every FastDropout of ``model`` for the ``nn.Dropout`` it
    replaced."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, FastDropout):
                setattr(module, name, torch.nn.Dropout(child.p))


def training_records(preset: str, batch: int, modes: List[str],
                     gemm: GemmRate, opts: RunOptions,
                     ceiling_poses_per_s: Optional[float] = None
                     ) -> List[Dict[str, Any]]:
    cfg = preset_config(preset)
    macs = counting.analytic_train_macs_model(cfg)
    x, y = random_inputs(cfg, batch)
    records = []
    for mode in modes:
        torch.manual_seed(0)
        model = MLPGraphWJ(cfg).train()
        # 'fp32-plain' and 'fp32-unblocked': autograd's plain path for the
        # joint-mixing MLP instead of models.pose.nn.cpu.blocked_mlp
        model.set_fast_paths(
            training_blocking=mode not in ('fp32-plain', 'fp32-unblocked'))
        if mode == 'fp32-plain':
            # the step before the CPU work: nn.Dropout's masks
            _use_torch_dropout(model)
        net = fresh_compile(model) if mode == 'compile' else model
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
        t = common.time_callable(
            step, opts.threads,
            **timer_settings(first, mode == 'compile', opts))
        gemm_gflops = gemm.measure()
        pps = batch / t.median
        eff = macs * 2 * pps / (gemm_gflops * 1e9)
        extra = {}
        if ceiling_poses_per_s:
            extra['share_of_parts_ceiling'] = pps / ceiling_poses_per_s
        records.append(record(
            name, preset, f'train-{mode}', batch, pps, eff, gemm_gflops, t,
            opts.threads, first_call_s=first, macs_per_pose=macs,
            **gemm.extra(macs, pps), **extra,
            note='forward + backward + AMSGrad step, loss eq. (11); MACs '
            'per pose = 3 x forward - embedding input gradient'))
        share = extra.get('share_of_parts_ceiling')
        common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                   f'{100 * eff:.1f}%' +
                   (f', {100 * share:.0f}% of the parts ceiling'
                    if share else '') + f' ({t.short()})')
    return records


def onnxruntime_records(preset: str, batches: List[int], gemm: GemmRate,
                        opts: RunOptions, pytorch: List[Dict[str, Any]]
                        ) -> List[Dict[str, Any]]:
    """The model exported to ONNX and run by ONNX Runtime, each batch
    beside PyTorch's ``eval-fp32`` row of the same batch in ``pytorch``."""
    cfg = preset_config(preset)
    macs = counting.analytic_macs_model(cfg)['total']
    torch.manual_seed(0)
    model = MLPGraphWJ(cfg).eval()
    try:
        predictor = OnnxPredictor(
            export_bytes(model), threads=opts.threads)
    except MissingDependencyError as exc:
        common.log(f'model: onnxruntime not measured: {exc}')
        return [record(f'{preset} eval onnxruntime skipped', preset,
                        'eval-onnxruntime', None, None, None, None,
                        threads=opts.threads, note=f'skipped: {exc}')]
    records = []
    for batch in batches:
        x, _ = random_inputs(cfg, batch)
        name = f'{preset} eval onnxruntime batch {batch}'
        common.log(f'model: {name}')
        t0 = time.perf_counter()
        predictor(x)
        first = time.perf_counter() - t0
        t = common.time_callable(lambda x=x: predictor(x), opts.threads,
                                 **timer_settings(first, False, opts))
        gemm_gflops = gemm.measure()
        pps = batch / t.median
        eff = macs * 2 * pps / (gemm_gflops * 1e9)
        torch_pps = next((r['poses_per_s'] for r in pytorch
                          if r['mode'] == 'eval-fp32' and
                          r['preset'] == preset and r['batch'] == batch),
                         None)
        extra = {'first_call_s': first, 'macs_per_pose': macs,
                 **gemm.extra(macs, pps), 'opset': OPSET,
                 **arithmetic_limit(macs, batch, t.median, gemm_gflops),
                 'ratio_to_pytorch_fp32':
                     pps / torch_pps if torch_pps else None}
        extra.update(agreement_with_plain(model, lambda x=x: predictor(x), x))
        records.append(record(name, preset, 'eval-onnxruntime', batch, pps,
                               eff, gemm_gflops, t, opts.threads,
                               **extra))
        ratio = extra['ratio_to_pytorch_fp32']
        common.log(f'model:   {pps:,.0f} poses/s, efficiency '
                   f'{100 * eff:.1f}% ({t.short()})' +
                   (f', x{ratio:.2f} PyTorch fp32' if ratio else ''))
    return records


def streaming_records(preset: str, gemm: GemmRate,
                      opts: RunOptions) -> List[Dict[str, Any]]:
    """Per-frame latency of
    :class:`models.pose.infer.streaming.StreamingLifter`
    (what a live application feels): p50 and p99 over a stream of
    frames, each push one batch-1 forward pass plus the lifter's work; with
    the PyTorch model and with the same model in ONNX Runtime."""
    cfg = preset_config(preset)
    torch.manual_seed(0)
    model = MLPGraphWJ(cfg).eval()
    records = [_stream_record(preset, 'stream-fp32', model, cfg, gemm,
                              opts)]
    try:
        predictor = OnnxPredictor(
            export_bytes(model), threads=opts.threads)
    except MissingDependencyError as exc:
        common.log(f'model: onnxruntime stream not measured: {exc}')
        return records
    records.append(_stream_record(preset, 'stream-onnxruntime', predictor,
                                  cfg, gemm, opts))
    return records


def _stream_record(preset: str, mode: str, model, cfg, gemm: GemmRate,
                   opts: RunOptions) -> Dict[str, Any]:
    macs = counting.analytic_macs_model(cfg)['total']
    frames = 30 if opts.smoke else (200 if opts.quick else 1000)
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
    return record(f'{preset} {mode} lookahead {lifter.lookahead}',
                   preset, mode, 1, pps, eff, gemm_gflops,
                   threads=opts.threads, median_ms=1e3 * p50,
                   iqr_ms=1e3 * float(np.quantile(lat, 0.75) -
                                      np.quantile(lat, 0.25)),
                   samples=frames, latency_p50_ms=1e3 * p50,
                   latency_p99_ms=1e3 * p99, frames=frames,
                   lookahead=lifter.lookahead, macs_per_pose=macs,
                   p99_over_p50=p99 / p50,
                   **arithmetic_limit(macs, 1, p50, gemm_gflops),
                   note='one StreamingLifter.push per frame: a batch-1 '
                   'forward pass plus the window bookkeeping')

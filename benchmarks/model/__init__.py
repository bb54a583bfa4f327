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
  (eq. 11) at batch 256, in the inference modes plus ``fp32-plain``
  (``nn.Dropout`` and autograd's plain path: the step before the CPU work)
  and ``fp32-unblocked`` (``FastDropout`` without the blocked joint-mixing
  MLP), each beside its ceiling from the parts: the step's GEMMs timed
  alone (``share_of_parts_ceiling``).
* Efficiency = analytic multiply-adds per pose (:mod:`.counting`, the
  count the ``flops`` suite checks against fvcore) x 2 x poses/s, divided
  by the best fp32 GEMM rate measured right after that row (see
  :class:`GemmRate`); ``efficiency_vs_default_gemm`` divides by the
  default ``F.linear`` rate instead. It says how much of the machine's
  GEMM speed the model turns into useful arithmetic; element-wise work,
  memory traffic, thin GEMMs and framework overhead are what lower it.
* The data loader (``models.pose.data.loader.PoseWindows``) is measured
  beside the training step.
* ONNX Runtime: the same model exported by :mod:`models.pose.deploy.export` and
  run by ``onnxruntime`` (CPU, the same thread count) at batch 1 (latency)
  and the throughput batch, beside PyTorch's fp32 rows of the same run
  (``ratio_to_pytorch_fp32``); skipped, with the extra to install named,
  when ``onnx``/``onnxruntime`` are missing.
"""
from typing import Any, Dict, List, Sequence

from benchmarks import _common as common
from benchmarks.model._shared import record
from benchmarks.model.ceilings import (
    ceiling_records,
    training_ceiling_records,
)
from benchmarks.model.gemm import GemmRate, gemm_records
from benchmarks.model.loader import loader_records
from benchmarks.model.report import markdown, plot
from benchmarks.model.throughput import (
    inference_records,
    onnxruntime_records,
    streaming_records,
    training_records,
)
from benchmarks.options import RunOptions


def run(opts: RunOptions) -> List[Dict[str, Any]]:
    env = common.environment(opts)
    records = gemm_records(opts)
    gemm = GemmRate(opts)
    ceiling_preset = 'paper-t1'
    # the second training batch: the training step of the ceiling preset
    # also at this batch (fp32, with and without the blocked joint MLP)
    if opts.smoke:  # the code paths and the files, in seconds
        presets, batches = ['tiny'], [1, 8]
        modes, train_batch, second_batch = ['fp32', 'bf16'], 8, 16
        ceiling_preset = 'tiny'
    elif opts.quick:
        presets, batches = ['paper-t1'], [1, 64]
        modes, train_batch, second_batch = ['fp32', 'bf16'], 32, 256
    else:
        presets, batches = ['paper-t1', 'paper-t243', 'demo'], [1, 256, 1024]
        modes, train_batch = ['fp32', 'bf16', 'compile'], 256
        second_batch = 32
    records += ceiling_records(ceiling_preset, gemm, opts)
    for preset in presets:
        records += inference_records(
            preset, batches, modes + ['fp32-unblocked', 'fp32-no-onednn'],
            gemm, opts)
        if preset != 'demo':  # ONNX Runtime at batch 1 and 256 (64, 8)
            records += onnxruntime_records(
                preset, [batches[0], batches[1]], gemm, opts, records)
        if preset != 'demo':
            records += streaming_records(preset, gemm, opts)
        records += _training_rows(preset, modes, train_batch,
                                  preset == ceiling_preset, gemm, opts)
        if preset == ceiling_preset:
            records += _training_rows(preset, [], second_batch, True, gemm,
                                      opts, base=['fp32-unblocked', 'fp32'])
    if opts.quick:
        records.append(record(
            'torch.compile skipped (--quick or --smoke)', None, 'compile',
            None, None, None, None, threads=opts.threads,
            note='skipped in --quick and --smoke: compiling the model takes '
            'about 15-20 s per inference graph and 45-50 s for the training '
            'graph on 2 cores, more than the quick budget; the full run '
            'measures it'))
    records += _gemm_readings(gemm, opts)
    for preset in [p for p in presets if p != 'demo']:
        fp32_train = next((r['poses_per_s'] for r in records
                           if r['mode'] == 'train-fp32' and
                           r['preset'] == preset), None)
        common.log(f'model: {preset} data loader')
        records += loader_records(preset, train_batch, fp32_train, opts)
    common.write_report(opts.out, 'model', records,
                        markdown(records, env, opts),
                        lambda path: plot(records, path))
    return records


def _gemm_readings(gemm: GemmRate,
                   opts: RunOptions) -> List[Dict[str, Any]]:
    """The GEMM rates read during the run, best and default, as rows."""
    records = []
    for label, found in (('best of default and oneDNN', gemm.readings),
                         ('default F.linear', gemm.default_readings)):
        readings = sorted(found)
        if not readings:
            continue
        records.append(record(
            f'GEMM fp32 {gemm.n}^3 readings during the run, {label} '
            f'(median)',
            None, 'gemm', None, None, None, readings[len(readings) // 2],
            threads=opts.threads, readings_gflops=readings,
            min_gflops=readings[0], max_gflops=readings[-1],
            note='each efficiency divides by the best reading taken right '
            'after that measurement'))
    return records


def _training_rows(preset: str, modes: List[str], train_batch: int,
                   with_ceiling: bool, gemm: GemmRate, opts: RunOptions,
                   base: Sequence[str] = ('fp32-plain', 'fp32-unblocked')
                   ) -> List[Dict[str, Any]]:
    """The training step of ``preset`` in the ``base`` modes and every
    mode, after its ceiling from the parts when ``with_ceiling``."""
    records: List[Dict[str, Any]] = []
    train_modes = modes
    if preset == 'paper-t243' and 'bf16' in modes:
        # a bf16 training step of batch 256 takes about 40 s on a CPU
        # without native bf16, and paper-t243 differs from paper-t1
        # only in the embedding's input width (+3% MACs)
        train_modes = [m for m in modes if m != 'bf16']
        records.append(record(
            f'{preset} train step bf16 skipped', preset, 'train-bf16',
            train_batch, None, None, None, threads=opts.threads,
            note='skipped to bound the run time: see paper-t1 train-bf16 '
            '(same architecture apart from the embedding width)'))
    ceiling = None
    if with_ceiling:
        found = training_ceiling_records(preset, train_batch, opts)
        records += found
        ceiling = found[-1]['poses_per_s']
    records += training_records(
        preset, train_batch, list(base) + train_modes,
        gemm, opts, ceiling)
    return records

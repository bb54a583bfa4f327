"""``model.md`` and ``model.png`` from the records."""
from pathlib import Path
from typing import Any, Dict, List

from benchmarks import _common as common
from benchmarks.model.gemm import gemm_size
from benchmarks.options import RunOptions
from models.common.markdown import markdown_table


def markdown(records: List[Dict[str, Any]], env: Dict[str, Any],
             opts: RunOptions) -> str:
    lines = common.header_lines('Pose-model throughput', env, opts)
    gemm = [r for r in records if r['mode'] == 'gemm']
    lines += [f'**Timing.** {common.TIMING_METHOD}', '',
              '**Efficiency** = analytic multiply-adds per pose x 2 x poses/s '
              f'/ the best fp32 {gemm_size(opts.smoke)}^3 GEMM rate (default '
              '`F.linear` or '
              'oneDNN, whichever is faster) measured right after that row '
              '(column `GEMM GFLOP/s`; the rate drifts on a shared machine); '
              '`eff. vs default GEMM` divides by the default `F.linear` rate '
              'instead. bf16 rows use the same fp32 denominator, to show '
              'how bf16 compares with fp32 on this CPU. Training MACs per '
              'pose = 3 x forward - the embedding\'s input gradient.',
              '', '## GEMM rate of this machine', '']
    lines.append(_gemm_table(gemm))
    lines += ceiling_markdown(records, gemm_size(opts.smoke))
    lines += _throughput_section(records)
    lines += training_ceiling_markdown(records)
    lines += _ort_stream_loader_sections(records)
    lines += targets_markdown(records)
    lines.append('')
    return '\n'.join(lines)



def _gemm_table(gemm: List[Dict[str, Any]]) -> str:
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
    return markdown_table(['GEMM', 'GFLOP/s', 'spread'], rows)


def _throughput_section(records: List[Dict[str, Any]]) -> List[str]:
    lines: List[str] = []
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
              '`models.pose.nn.config.FastPaths`); '
              '`fp32-unblocked` is '
              'the same model with the blocking off; `fp32-no-onednn` runs '
              'every GEMM through plain `F.linear` instead of oneDNN '
              '(`FastPaths(onednn=False)`); `onnxruntime` runs the '
              'model exported by `python -m models.pose export` (opset '
              '17, traced on the plain path) in ONNX Runtime with the same '
              'thread count. `max diff / scale`: '
              'largest absolute difference from the plain eager fp32 model '
              'over the largest output magnitude.']
    return lines


def _ort_stream_loader_sections(records: List[Dict[str, Any]]
                                ) -> List[str]:
    lines: List[str] = []
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
    return lines

#: Issue 25's targets for paper-t1 on 2 cores: batch-1 milliseconds of
#: eager fp32 and ONNX Runtime, the streaming p99 over its p50, and the
#: training step's least share of its parts ceiling.
TARGETS = {'eval-fp32': 2.0, 'eval-onnxruntime': 1.5, 'p99_over_p50': 2.0,
           'share_of_parts_ceiling': 0.6}


def _latency_rows(records: List[Dict[str, Any]]) -> List[List[Any]]:
    rows = []
    for r in records:
        batch_one = r['mode'] in ('eval-fp32', 'eval-onnxruntime') and \
            r['batch'] == 1
        if not (batch_one or r['mode'].startswith('stream-')) or \
                r.get('arithmetic_limit_ms') is None:
            continue
        # the targets are paper-t1's; other presets only show the ratio
        target = TARGETS.get(r['mode']) if r['preset'] == 'paper-t1' \
            else None
        ms = r['median_ms']
        if r['mode'].startswith('stream-'):
            goal = met = None
            if r['preset'] == 'paper-t1':
                goal = f"p99 <= {TARGETS['p99_over_p50']:g} x p50"
                met = r['p99_over_p50'] <= TARGETS['p99_over_p50']
            ms_text = (f"p50 {ms:.2f}, p99 {r['latency_p99_ms']:.2f} "
                       f"(x{r['p99_over_p50']:.2f})")
        else:
            goal = None if target is None else f'<= {target:g} ms'
            met = None if target is None else ms <= target
            ms_text = f'{ms:.2f}'
        rows.append([r['preset'], r['mode'], ms_text,
                     f"{r['arithmetic_limit_ms']:.3f}",
                     f"x{r['times_arithmetic_limit']:.2f}", goal,
                     None if met is None else ('met' if met else
                                               '**not met**')])
    return rows


def targets_markdown(records: List[Dict[str, Any]]) -> List[str]:
    """Batch-1 latency beside its arithmetic limit (the multiply-adds at
    the GEMM rate measured right after it), and issue 25's targets."""
    rows = _latency_rows(records)
    shares = [r for r in records if r.get('share_of_parts_ceiling') and
              r['mode'] == 'train-fp32' and r['preset'] == 'paper-t1']
    if not rows and not shares:
        return []
    lines = ['', '## Batch-1 latency beside its arithmetic limit', '',
             'Arithmetic limit: the multiply-adds of one pose at the best '
             'fp32 GEMM rate measured right after the row; `x limit` is the '
             'latency over it (the targets are for paper-t1 on 2 cores).',
             '']
    lines.append(markdown_table(
        ['preset', 'mode', 'ms', 'limit ms', 'x limit', 'target',
         'status'], rows))
    for r in shares:
        met = r['share_of_parts_ceiling'] >= TARGETS[
            'share_of_parts_ceiling']
        lines.append(f"* {r['preset']} training step fp32 batch "
                     f"{r['batch']}: {100 * r['share_of_parts_ceiling']:.0f}"
                     f"% of its parts ceiling (target >= "
                     f"{100 * TARGETS['share_of_parts_ceiling']:.0f}%: "
                     f"{'met' if met else 'not met'})")
    return lines


def training_ceiling_markdown(records: List[Dict[str, Any]]) -> List[str]:
    ceilings = [r for r in records if r['mode'] == 'train-ceiling']
    if not ceilings:
        return []
    lines = ['', '## Training step beside its parts ceiling', '',
             'Each GEMM of a training step (forward, input gradient, weight '
             'gradient, at the unblocked shapes training runs) timed alone; '
             'their sum is the step if nothing else cost any time. '
             '`fp32-plain` is the step before the CPU work: `nn.Dropout` and '
             'autograd\'s plain path; `fp32-unblocked` has `FastDropout` '
             '(`models.pose.nn.cpu.dropout`) but not the blocked '
             'joint-mixing MLP '
             '(`models.pose.nn.cpu.blocked_mlp`); `fp32` has both.', '']
    for c in ceilings:
        parts = [r for r in records if r['mode'] == 'train-part' and
                 r['preset'] == c['preset'] and r['batch'] == c['batch']]
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
                    and r['batch'] == c['batch'] and
                    r.get('share_of_parts_ceiling') is not None):
                lines.append(f"* {r['mode']}: {r['poses_per_s']:,.0f} "
                             f"poses/s = **"
                             f"{100 * r['share_of_parts_ceiling']:.0f}%** of "
                             f"the ceiling")
    return lines


def ceiling_markdown(records: List[Dict[str, Any]],
                     gemm_n: int) -> List[str]:
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
              f"{gemm_n}^3 GEMM rate ({c['gemm_gflops']:.1f} GFLOP/s, "
              f"{c['macs_per_pose']:,} MACs per pose); bf16 "
              f"{c['ceiling_ms_per_pose_bf16']:.3f} ms per pose = "
              f"**x{c['bf16_speedup_ceiling']:.2f}** fp32's ceiling."]
    return lines


def plot(records: List[Dict[str, Any]], path: Path) -> None:
    """Efficiency per preset, mode and batch as grouped bars."""
    # optional: without it the suite still writes its JSON and Markdown
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

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
    ax.legend(handles=[Patch(color=c, label=m) for m, c in colors.items()],
              fontsize=7)
    threads = rows[0]['threads'] if rows else '?'
    ax.set_title(f'MLP-GraphWJ efficiency: analytic MACs x 2 x poses/s / '
                 f'best fp32 GEMM rate ({threads} threads)', fontsize=9)
    common.atomic_save_figure(fig, path)
    plt.close(fig)

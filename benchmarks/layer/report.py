"""``layer.md`` and ``layer.png`` from the records."""
from pathlib import Path
from typing import Any, Dict, List

from benchmarks import _common as common
from benchmarks.layer.record import REFERENCE, LayerRecord
from benchmarks.options import RunOptions
from models.common.markdown import markdown_table


def markdown(records: List[LayerRecord], env: Dict[str, Any],
             opts: RunOptions, scatter_note: str) -> str:
    lines = common.header_lines('Layer speed and memory', env, opts)
    lines += [
        f'**Timing.** {common.TIMING_METHOD} Forward under torch.no_grad(); '
        'forward+backward = forward with autograd and torch.autograd.grad '
        'w.r.t. x and every parameter.', '',
        f'**Memory** (`peak fwd+bwd`): {common.MEMORY_METHOD}', '',
        '**Ratios** divide a layer\'s median time by the median of the '
        'reference measured right before it (skeleton: a hand-fused dense WJ '
        'layer; '
        'random graph: the sum of the separately timed GEMMs and one CSR '
        'spmm whose backward multiplies by a transpose built beforehand, as '
        'a hand-written layer on a static graph would). '
        '`ratio_to_reference` in the JSON is the forward+backward ratio. '
        'The GCN layers do one F x F GEMM where a WJ layer does three '
        '(x @ [W1|W2] and x0 @ W3), so a GCN ratio below 1 is expected; '
        '`fwd GFLOP/s` (2 x analytic forward MACs / forward time) compares '
        'how well each layer uses the machine.', '',
        f'**torch_scatter.** {scatter_note}', '']
    for case in dict.fromkeys(r.case for r in records if r.measured):
        lines += _case_lines(records, case)
    failed = [r for r in records if not r.measured]
    if failed:
        lines += ['## Not measured', '']
        for r in failed:
            lines.append(f'* {r.name} ({r.case}): {r.note}')
        lines.append('')
    return '\n'.join(lines)


def _drift_lines(records: List[LayerRecord], case: str) -> List[str]:
    """How far the reference's repeated measurements over ``case`` spread:
    how much the machine's speed drifted."""
    ref = next((r for r in records if r.case == case and
                r.name == REFERENCE), None)
    if ref is None or not ref.reference_spread_fwdbwd_ms:
        return []
    lo, hi = ref.reference_spread_fwdbwd_ms
    return [f"The reference was measured before every layer (each "
            f"ratio pairs a layer with the reference measured just "
            f"before it); its fwd+bwd median ranged {lo:.3f}-"
            f"{hi:.3f} ms over the case (x{hi / lo:.2f}), which "
            f"is how much the machine's speed drifted.", '']


def _case_lines(records: List[LayerRecord], case: str) -> List[str]:
    """The report's section on one case: the reference's drift and a
    table of its timed records."""
    lines = [f'## {case}', ''] + _drift_lines(records, case)
    timed = [r for r in records if r.case == case and r.measured]
    rows = [[
        r.name + (' **(contended)**' if r.contended else ''),
        f'{r.fwd_ms:.3f} ± {r.fwd_iqr_ms:.3f}',
        f'{r.fwdbwd_ms:.3f} ± {r.fwdbwd_iqr_ms:.3f}',
        f'{r.fwd_ratio_to_reference:.2f}',
        f'{r.ratio_to_reference:.2f}',
        f'{r.peak_mem_fwd_mb:.1f}', f'{r.peak_mem_mb:.1f}',
        common.fmt(r.fwd_gflops, 1)] for r in timed]
    lines.append(markdown_table(
        ['layer', 'fwd ms (median ± IQR)', 'fwd+bwd ms (median ± IQR)',
         'fwd / ref', 'fwd+bwd / ref', 'peak fwd MiB',
         'peak fwd+bwd MiB', 'fwd GFLOP/s'], rows))
    lines.append('')
    contended = sum(r.contended for r in timed)
    if contended:
        lines += [f'**{contended} row(s) contended**: other processes '
                  f'used more than {100 * common.CONTENTION_LIMIT:.0f}% '
                  f'of the CPUs while they (or their reference) were '
                  f'timed; their times and ratios are not reliable.', '']
    return lines


def _plotted_cases(timed: List[LayerRecord]) -> List[str]:
    """The largest skeleton case with F=384 (or the last one) and the
    random graph."""
    cases = list(dict.fromkeys(r.case for r in timed))
    skeleton = [c for c in cases if c.startswith('skeleton')]
    pick = [c for c in skeleton if c == 'skeleton B=256 F=384'] or \
        skeleton[-1:]
    return pick + [c for c in cases if c.startswith('random graph')]


def plot(records: List[LayerRecord], path: Path) -> None:
    """Forward+backward ratio to the reference, one panel per chosen case
    (:func:`_plotted_cases`)."""
    # optional: without it the suite still writes its JSON and Markdown
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    timed = [r for r in records if r.measured and
             not r.name.startswith('part:')]
    pick = _plotted_cases(timed)
    fig, axes = plt.subplots(1, len(pick), figsize=(8.5 * len(pick), 6.5),
                             squeeze=False, constrained_layout=True)
    plain = FuncFormatter(lambda v, _: f'{v:g}')
    for ax, case in zip(axes[0], pick):
        rows = sorted((r for r in timed if r.case == case),
                      key=lambda r: r.ratio_to_reference)
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [r.ratio_to_reference for r in rows],
                height=0.4, label='fwd+bwd')
        ax.barh([i - 0.2 for i in y],
                [r.fwd_ratio_to_reference for r in rows], height=0.4,
                label='fwd')
        ax.axvline(1.0, color='k', lw=0.8)
        ax.set_yticks(list(y))
        ax.set_yticklabels([r.name for r in rows], fontsize=7)
        ax.set_xscale('log')
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis='x', which='minor', labelsize=6)
        ax.set_xlabel('time / reference (log scale)')
        ax.set_title(case, fontsize=9)
        ax.legend(fontsize=7)
    threads = timed[0].threads if timed else '?'
    fig.suptitle(f'Layer time relative to the sum-of-parts reference '
                 f'({threads} threads)', fontsize=10)
    common.atomic_save_figure(fig, path)
    plt.close(fig)

"""The paper's ablation (Table 3) on the built-in demo set: variants
``mixer``, ``gcn``, ``wj`` and ``wj --authors-diagonal`` with the same budget,
several seeds each; prints held-out MPJPE / P-MPJPE as mean ± std beside
the three baselines every evaluation fits (mean pose, linear 2D -> 3D,
nearest neighbour), and
which differences between variants exceed their seed spread.

    python examples/demo_ablation.py --seeds 3 --epochs 30 --jobs 2

Every variant is sized to the same parameter count (``--match-params``,
by default the demo ``wj`` model's 422,313) by changing only its MLP
hidden width R (:func:`~models.pose.nn.config.match_parameters`), as the
paper sized Table 3's to about 0.95 M; ``--match-params 0`` trains the
demo preset's widths as they are (``gcn`` and ``mixer`` then have a third
of ``wj``'s parameters).

Each run is ``python -m models.pose train --preset demo ...`` (best epoch
chosen on the validation part of the training clips, test clips scored once
at the end) with one torch thread; ``--jobs`` runs that many at once. The
table is also written to ``<out>/summary.json``.
"""
import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: models is not installed
from models.pose.nn.config import VARIANTS as MODEL_VARIANTS  # noqa: E402
from models.pose.nn.config import (  # noqa: E402
    count_parameters,
    preset_config,
)

#: the runs, in Table 3's order (from the plain mixer to the paper's model)
#: and their ``train`` flags
VARIANTS = {**{v: ['--variant', v] for v in reversed(MODEL_VARIANTS)},
            'wj (authors diagonal)': ['--variant', 'wj',
                                      '--authors-diagonal']}


def run_one(name: str, extra, seed: int, epochs: int, out: Path,
            match: int):
    run_dir = out / f"{name.replace(' ', '_').strip('()')}-seed{seed}"
    cmd = [sys.executable, '-m', 'models.pose', 'train', '--preset', 'demo',
           '--epochs', str(epochs), '--seed', str(seed), '--threads', '1',
           '--no-progress', '--overwrite', '--out', str(run_dir), *extra]
    if match:
        cmd += ['--match-params', str(match)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   cwd=REPO)
    results = json.loads((run_dir / 'metrics.json').read_text())
    metrics = results['average']
    print(f'{name:24s} seed {seed}: MPJPE {metrics["mpjpe"]:.1f} mm, '
          f'P-MPJPE {metrics["p_mpjpe"]:.1f} mm '
          f'({time.perf_counter() - start:.0f} s)', flush=True)
    return name, metrics, results['baselines']['methods']


def _mean_std(values):
    return (statistics.mean(values),
            statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--out', type=Path, default=Path('runs/ablation'))
    parser.add_argument('--match-params', type=int,
                        default=count_parameters(preset_config('demo')),
                        metavar='N', help='size every variant to N '
                        'parameters (default: the demo wj model\'s; 0: the '
                        'preset\'s widths)')
    args = parser.parse_args(argv)
    if args.match_params < 0:
        parser.error(f'--match-params must be >= 0 (0: off), got '
                     f'{args.match_params}')
    jobs = [(n, e, s) for n, e in VARIANTS.items() for s in range(args.seeds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda j: run_one(*j, args.epochs, args.out,
                              args.match_params), jobs))
    print(f'\nHeld-out demo clips, {args.epochs} epochs, {args.seeds} seeds '
          f'(mean ± std, mm):')
    summary = {'epochs': args.epochs, 'seeds': args.seeds,
               'match_params': args.match_params, 'variants': {},
               'baselines': {}}
    for name in VARIANTS:
        rows = [m for n, m, _ in results if n == name]
        entry = {}
        for key in ('mpjpe', 'p_mpjpe'):
            entry[key] = _mean_std([r[key] for r in rows])
            entry[key + '_runs'] = [r[key] for r in rows]
        summary['variants'][name] = entry
        print(f"  {name:24s} MPJPE {entry['mpjpe'][0]:6.1f} ± "
              f"{entry['mpjpe'][1]:4.1f}   P-MPJPE {entry['p_mpjpe'][0]:6.1f}"
              f" ± {entry['p_mpjpe'][1]:4.1f}")
    # the baselines' fit does not depend on the seed or variant
    for method, avg in results[0][2].items():
        summary['baselines'][method] = {k: avg[k] for k in ('mpjpe',
                                                            'p_mpjpe')}
        print(f"  {method + ' (baseline)':24s} MPJPE {avg['mpjpe']:6.1f}"
              f"          P-MPJPE {avg['p_mpjpe']:6.1f}")
    print('\nDifferences in MPJPE larger than twice their standard error '
          '(seed spread):')
    summary['clear_differences'] = []
    for a, b in itertools.combinations(VARIANTS, 2):
        (ma, sa), (mb, sb) = (summary['variants'][v]['mpjpe'] for v in (a, b))
        se = math.sqrt((sa ** 2 + sb ** 2) / args.seeds)
        clear = abs(ma - mb) > 2 * se
        summary['clear_differences'].append(
            {'a': a, 'b': b, 'diff_mm': ma - mb, 'se_mm': se, 'clear': clear})
        print(f"  {a} - {b}: {ma - mb:+6.1f} mm (SE {se:.1f})"
              f"{'  <- clear' if clear else ''}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'summary.json').write_text(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()

"""The paper's ablation (Table 3) on the built-in demo set: variants
``mixer``, ``gcn``, ``wj`` and ``wj --authors-diagonal`` with the same budget,
several seeds each; prints held-out MPJPE / P-MPJPE as mean ± std.

    python examples/demo_ablation.py --seeds 3 --epochs 30 --jobs 2

Each run is ``python -m models.pose train --preset demo ...`` with one torch
thread; ``--jobs`` runs that many at once.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VARIANTS = {'mixer': ['--variant', 'mixer'], 'gcn': ['--variant', 'gcn'],
            'wj': ['--variant', 'wj'],
            'wj (authors diagonal)': ['--variant', 'wj',
                                      '--authors-diagonal']}


def run_one(name: str, extra, seed: int, epochs: int, out: Path):
    run_dir = out / f"{name.replace(' ', '_').strip('()')}-seed{seed}"
    cmd = [sys.executable, '-m', 'models.pose', 'train', '--preset', 'demo',
           '--epochs', str(epochs), '--seed', str(seed), '--threads', '1',
           '--no-progress', '--out', str(run_dir), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parents[1])
    metrics = json.loads((run_dir / 'metrics.json').read_text())['average']
    print(f'{name:24s} seed {seed}: MPJPE {metrics["mpjpe"]:.1f} mm, '
          f'P-MPJPE {metrics["p_mpjpe"]:.1f} mm '
          f'({time.perf_counter() - start:.0f} s)', flush=True)
    return name, metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--out', type=Path, default=Path('runs/ablation'))
    args = parser.parse_args(argv)
    jobs = [(n, e, s) for n, e in VARIANTS.items() for s in range(args.seeds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda j: run_one(*j, args.epochs, args.out), jobs))
    print(f'\nHeld-out demo clips, {args.epochs} epochs, {args.seeds} seeds '
          f'(mean ± std):')
    for name in VARIANTS:
        rows = [m for n, m in results if n == name]
        for key, label in (('mpjpe', 'MPJPE'), ('p_mpjpe', 'P-MPJPE')):
            vals = [r[key] for r in rows]
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f'  {name:24s} {label:8s} {statistics.mean(vals):6.1f} ± '
                  f'{std:4.1f} mm')


if __name__ == '__main__':
    main()

"""``python -m benchmarks layer``: time and memory of single graph layers.

Every layer runs at equal input and output width ``F`` on two kinds of
input, and every time is divided by that of a "sum of parts" reference
measured right before it in the same run (the host's speed drifts), so the
ratios say how much a layer's machinery (graph conversion, normalisation,
message passing, layout changes) costs on top of the arithmetic it cannot
avoid:

* **skeleton** batches ``x: [B, 17, F]`` (the pose model's shape). The
  reference is a hand-fused dense WJ layer: one GEMM ``x @ [W1|W2]``
  (bias in the epilogue), one ``x0 @ W3``, one ``[N, N] x [B, N, F]``
  matmul with the pre-built operator ``M = (1-alpha) A_hat - I``, and two
  element-wise passes.
* a **large random graph** (100k nodes, 1M edges, F = 64). The reference
  is the sum of the separately timed parts: the two GEMMs and one CSR
  sparse matmul with ``M`` built beforehand (element-wise work is left
  out, so even an ideal layer sits somewhat above 1).

Layers: WJConv with every input layout (``edge_index``, ``torch.sparse``
CSR ``adj_t``, PyG ``EdgeIndex``) on its dense path (default up to 64
nodes) and sparse path (``dense_max_nodes=0``), cached and not, and with a
learnable ``edge_weight`` (per-edge messages); DenseWJConv; PyG's GCNConv,
GCN2Conv and DenseGCNConv. Forward is timed under ``torch.no_grad()``;
forward+backward computes gradients for ``x`` and every parameter with
``torch.autograd.grad`` and a fixed output gradient (no accumulation).
"""
import warnings
from typing import List, Tuple

import torch

from benchmarks import _common as common
from benchmarks.layer.cases import (
    large_entries,
    large_reference_parts,
    scatter_note,
    skeleton_entries,
)
from benchmarks.layer.record import LayerRecord
from benchmarks.layer.report import markdown, plot
from benchmarks.layer.timing import Case, Settings, run_case
from benchmarks.options import RunOptions


def run(opts: RunOptions) -> List[LayerRecord]:
    env = common.environment(opts)
    with warnings.catch_warnings():
        # PyG's CSR conversions warn that sparse CSR is 'beta' on each call
        warnings.simplefilter('ignore', UserWarning)
        records = _run(opts)
    _, note = scatter_note()
    common.write_report(opts.out, 'layer', [r.to_json() for r in records],
                        markdown(records, env, opts, note),
                        lambda path: plot(records, path))
    return records


def _sizes(opts: RunOptions
           ) -> Tuple[Settings, List[Tuple[int, int]], int, int]:
    """Timer settings, the skeleton cases ``(B, F)`` and the random graph's
    nodes and edges of a run of this size."""
    if opts.smoke:
        return (Settings(min_run_time=0.01, min_samples=1, warmup=1,
                         max_time=0.05, smoke=True),
                [(4, 8)], 500, 2_000)
    if opts.quick:
        return (Settings(min_run_time=0.05, min_samples=3, warmup=1,
                         max_time=2.0),
                [(64, 64)], 10_000, 100_000)
    return (Settings(min_run_time=0.3, min_samples=5, warmup=2,
                     max_time=10.0),
            [(b, f) for f in (64, 384) for b in (64, 256, 1024)],
            100_000, 1_000_000)


def _skeleton_case(B: int, F: int) -> Case:
    entries, ref, grad_out = skeleton_entries(B, F)
    torch.manual_seed(2)
    x = torch.randn(B, 17, F, requires_grad=True)
    return Case(f'skeleton B={B} F={F}', entries, ref, [], x, grad_out)


def _graph_case(n: int, e: int, F: int) -> Case:
    name = f'random graph N={n:,} E={e:,} F={F}'
    common.log(f'layer: building {name}')
    entries, ei = large_entries(n, e, F)
    parts, plain_spmm = large_reference_parts(ei, n, F)
    entries.append(plain_spmm)
    torch.manual_seed(2)
    x = torch.randn(n, F, requires_grad=True)
    return Case(name, entries, None, parts, x, torch.randn(n, F))


def _run(opts: RunOptions) -> List[LayerRecord]:
    settings, skeleton_cases, n, e = _sizes(opts)
    records: List[LayerRecord] = []
    for B, F in skeleton_cases:
        records += run_case(_skeleton_case(B, F), opts.threads, settings)
    graph = _graph_case(n, e, 64)
    records += run_case(graph, opts.threads, settings)
    importable, note = scatter_note()
    records.append(LayerRecord(
        'torch_scatter aggregation vs PyG default', graph.name,
        layout=None, threads=opts.threads,
        note=('measured above: PyG picked torch_scatter at import'
              if importable else 'skipped: ' + note)))
    return records

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from benchmarks import _common as common
from benchmarks.counting import EQ6, analytic_macs_wj_layer, nnz_of_jacobi
from models.common.files import write_text_atomic
from models.common.markdown import markdown_table

REFERENCE = 'reference (sum of parts)'


@dataclass
class Entry:
    """One thing to time: a name and a forward function of ``x``."""
    name: str
    forward: Callable[[Tensor], Tensor]
    params: Sequence[Tensor]
    layout: str = ''
    note: str = ''
    grad_x: bool = True  # False for a part that does not read x
    macs: Optional[int] = None  # forward multiply-adds, for GFLOP/s


@dataclass
class Settings:
    min_run_time: float
    min_samples: int
    warmup: int
    max_time: float


def _measure(entry: Entry, x: Tensor, grad_out: Tensor, threads: int,
             settings: Settings, memory: bool = True) -> Dict[str, Any]:
    """Forward and forward+backward timings and (with ``memory``) peak
    memory of one entry."""
    inputs = ([x] if entry.grad_x else []) + \
        [p for p in entry.params if p.requires_grad]

    def fwd():
        with torch.no_grad():
            return entry.forward(x)

    def fwdbwd():
        out = entry.forward(x)
        return torch.autograd.grad(out, inputs, grad_out)

    kw = dict(threads=threads, min_run_time=settings.min_run_time,
              min_samples=settings.min_samples, warmup=settings.warmup,
              max_time=settings.max_time)
    t_fwd = common.time_callable(fwd, **kw)
    t_bwd = common.time_callable(fwdbwd, **kw)
    mem_fwd = common.peak_allocated_bytes(fwd) if memory else None
    mem_bwd = common.peak_allocated_bytes(fwdbwd) if memory else None
    return {'fwd': t_fwd, 'fwdbwd': t_bwd, 'mem_fwd': mem_fwd,
            'mem_fwdbwd': mem_bwd}


def _worst(*shares: Optional[float]) -> Optional[float]:
    """Largest CPU share other processes took during any of the timings a
    record (or its ratio) rests on."""
    known = [s for s in shares if s is not None]
    return max(known) if known else None


def _record(name: str, case: str, m: Dict[str, Any], ref: Dict[str, Any],
            threads: int, layout: str = '', note: str = '',
            macs: Optional[int] = None) -> Dict[str, Any]:
    return {
        'name': name, 'case': case,
        'fwd_ms': m['fwd'].median_ms, 'fwdbwd_ms': m['fwdbwd'].median_ms,
        'peak_mem_mb': m['mem_fwdbwd'] / 2**20,
        'ratio_to_reference': m['fwdbwd'].median / ref['fwdbwd'].median,
        'fwd_ratio_to_reference': m['fwd'].median / ref['fwd'].median,
        'fwd_iqr_ms': m['fwd'].iqr_ms, 'fwdbwd_iqr_ms': m['fwdbwd'].iqr_ms,
        'fwd_samples': m['fwd'].samples,
        'fwdbwd_samples': m['fwdbwd'].samples,
        'peak_mem_fwd_mb': m['mem_fwd'] / 2**20,
        'layout': layout, 'note': note, 'threads': threads,
        'macs_fwd': macs,
        'fwd_gflops': (2 * macs / m['fwd'].median / 1e9) if macs else None,
        'contention': _worst(m['fwd'].contention, m['fwdbwd'].contention,
                             ref['fwd'].contention,
                             ref['fwdbwd'].contention),
    }


# --------------------------------------------------------------------------
# skeleton batches
# --------------------------------------------------------------------------

def _params(*modules: nn.Module) -> List[Tensor]:
    return [p for m in modules for p in m.parameters()]


def _wj_entries(F: int, x0: Tensor, ei: Tensor,
                layouts: Sequence[Tuple[str, Any]],
                paths: Sequence[Tuple[str, Dict[str, Any], int]]
                ) -> List[Entry]:
    """WJConv (eq. 6) on every input layout and aggregation path
    (``(path, kwargs, macs)``), cached on ``edge_index``, and with a
    learnable ``edge_weight`` (per-edge messages)."""
    from pyg_wj import WJConv

    entries: List[Entry] = []
    for layout, graph in layouts:
        for path, kw, macs in paths:
            conv = WJConv(F, F, **EQ6, **kw)
            entries.append(Entry(
                f'WJConv {path} path, {layout}',
                lambda x, c=conv, g=graph: c(x, x0, g), _params(conv),
                layout, macs=macs))
    for path, kw, macs in paths:
        conv = WJConv(F, F, **EQ6, cached=True, **kw)
        entries.append(Entry(f'WJConv {path} path, edge_index, cached',
                             lambda x, c=conv: c(x, x0, ei), _params(conv),
                             'edge_index', macs=macs))
    weight = torch.ones(ei.size(1), requires_grad=True)
    conv = WJConv(F, F, **EQ6)
    entries.append(Entry(
        'WJConv edge_index + learnable edge_weight (messages)',
        lambda x, c=conv: c(x, x0, ei, weight), _params(conv) + [weight],
        'edge_index', macs=paths[-1][2]))
    return entries


def _gcn_entries(F: int, ei: Tensor, macs: int) -> List[Entry]:
    """PyG's GCNConv on ``edge_index``, plain and cached."""
    from torch_geometric.nn import GCNConv

    gcn = GCNConv(F, F)
    gcn_c = GCNConv(F, F, cached=True)
    return [Entry('GCNConv', lambda x: gcn(x, ei), _params(gcn),
                  'edge_index', macs=macs),
            Entry('GCNConv cached', lambda x: gcn_c(x, ei), _params(gcn_c),
                  'edge_index', macs=macs)]


def skeleton_entries(B: int, F: int) -> Tuple[List[Entry], Entry, Tensor]:
    """Layers on ``[B, 17, F]`` and the hand-fused dense reference."""
    from torch_geometric import EdgeIndex
    from torch_geometric.nn import DenseGCNConv, GCN2Conv
    from torch_geometric.utils import to_torch_csr_tensor

    from models.pose.data.skeleton import get_skeleton
    from pyg_wj import DenseWJConv

    J = 17
    skeleton = get_skeleton(J)
    ei = skeleton.edge_index()
    adj = skeleton.adjacency()
    csr = to_torch_csr_tensor(ei.flip(0), size=(J, J))  # adj_t, row=target
    eidx = EdgeIndex(ei, sparse_size=(J, J))
    torch.manual_seed(0)
    x0 = torch.randn(B, J, F)
    # GCN2Conv multiplies with addmm (2-D only): give it the batch as one
    # disjoint graph of B * 17 nodes, the usual PyG batching
    offsets = (torch.arange(B) * J).repeat_interleave(ei.size(1))
    ei_batched = ei.repeat(1, B) + offsets
    E = ei.size(1)  # 32 directed skeleton edges, no duplicates
    wj_dense = analytic_macs_wj_layer(B, J, F, F, F, 'dense')
    wj_sparse = analytic_macs_wj_layer(B, J, F, F, F, 'sparse',
                                       nnz=nnz_of_jacobi(ei, J))
    gcn_macs = B * J * F * F + B * (E + J) * F  # GEMM + messages w/ loops

    entries = _wj_entries(
        F, x0, ei, (('edge_index', ei), ('CSR adj_t', csr),
                    ('EdgeIndex', eidx)),
        (('dense', {}, wj_dense),
         ('sparse', {'dense_max_nodes': 0}, wj_sparse)))
    dense = DenseWJConv(F, F, **EQ6)
    entries.append(Entry('DenseWJConv', lambda x: dense(x, x0, adj),
                         _params(dense), 'dense adj', macs=wj_dense))
    dense_c = DenseWJConv(F, F, **EQ6, cached=True)
    entries.append(Entry('DenseWJConv cached',
                         lambda x: dense_c(x, x0, adj), _params(dense_c),
                         'dense adj', macs=wj_dense))
    entries += _gcn_entries(F, ei, gcn_macs)
    gcn2 = GCN2Conv(F, alpha=0.1)
    x0_flat = x0.reshape(B * J, F)
    entries.append(Entry(
        'GCN2Conv (batch as one graph)',
        lambda x: gcn2(x.reshape(B * J, F), x0_flat, ei_batched).view(B, J, F),
        _params(gcn2), 'edge_index', macs=gcn_macs,
        note='addmm needs 2-D input: B*17-node disjoint graph'))
    dgcn = DenseGCNConv(F, F)
    entries.append(Entry('DenseGCNConv', lambda x: dgcn(x, adj),
                         _params(dgcn), 'dense adj',
                         macs=B * J * F * F + B * J * J * F))
    ref = _skeleton_reference(adj, x0, wj_dense)
    return entries, ref, torch.randn(B, J, F)


def _skeleton_reference(adj: Tensor, x0: Tensor, macs: int) -> Entry:
    """The hand-fused reference: what a WJ layer on a fixed skeleton must
    do, in its cheapest plain-PyTorch form. ``M = (1-alpha) A_hat - I`` is
    built once, so one matmul gives the neighbour and ``-x W2`` terms; the
    bias rides in the GEMM (addmm); two element-wise passes remain."""
    from pyg_wj.utils import normalize_dense_adj

    B, J, F = x0.shape
    alpha = 0.1
    m_op = (1 - alpha) * normalize_dense_adj(adj) - torch.eye(J)
    gen = torch.Generator().manual_seed(1)
    w12 = (torch.randn(F, 2 * F, generator=gen) / F**0.5).requires_grad_()
    w3 = (torch.randn(F, F, generator=gen) / F**0.5).requires_grad_()
    omega = torch.ones(F, requires_grad=True)
    bias = torch.zeros(F, requires_grad=True)
    x0_2d = x0.reshape(-1, F)

    def reference(x: Tensor) -> Tensor:
        bias12 = torch.cat([bias, bias.new_zeros(F)])
        h = torch.addmm(bias12, x.reshape(-1, F), w12).view(B, J, 2 * F)
        h1b, h2 = h.split(F, dim=-1)
        mh2 = torch.matmul(m_op, h2)
        p = (x0_2d @ w3).view(B, J, F)
        return torch.addcmul(h1b, omega, torch.add(mh2, p, alpha=alpha))

    return Entry(REFERENCE, reference, [w12, w3, omega, bias], 'dense',
                 macs=macs,
                 note='one GEMM x@[W1|W2] (+bias), one x0@W3, one '
                 '[N,N]x[B,N,F] matmul with M = (1-alpha)A_hat - I, two '
                 'element-wise passes')


# --------------------------------------------------------------------------
# large random graph
# --------------------------------------------------------------------------

def large_graph(num_nodes: int, num_edges: int, seed: int = 0) -> Tensor:
    """Random undirected graph: ``num_edges // 2`` random pairs, both
    directions (duplicates possible, as in real edge lists)."""
    gen = torch.Generator().manual_seed(seed)
    half = torch.randint(0, num_nodes, (2, num_edges // 2), generator=gen)
    return torch.cat([half, half.flip(0)], dim=1)


def large_entries(N: int, E: int, F: int) -> Tuple[List[Entry], Tensor]:
    from torch_geometric import EdgeIndex
    from torch_geometric.nn import GCN2Conv, GCNConv
    from torch_geometric.utils import to_torch_csr_tensor

    ei = large_graph(N, E)
    csr = to_torch_csr_tensor(ei.flip(0), size=(N, N))
    eidx = EdgeIndex(ei, sparse_size=(N, N))
    torch.manual_seed(0)
    x0 = torch.randn(N, F)
    nnz = nnz_of_jacobi(ei, N)  # M's non-zeros: merged edges + diagonal
    wj = analytic_macs_wj_layer(1, N, F, F, F, 'sparse', nnz=nnz)
    gcn_macs = N * F * F + (ei.size(1) + N) * F  # messages incl. loops
    entries = _wj_entries(
        F, x0, ei, (('edge_index', ei), ('CSR adj_t', csr),
                    ('EdgeIndex', eidx)),
        (('sparse', {}, wj), ))
    entries += _gcn_entries(F, ei, gcn_macs)
    gcn_csr = GCNConv(F, F)
    entries.append(Entry('GCNConv, CSR adj_t', lambda x: gcn_csr(x, csr),
                         _params(gcn_csr), 'CSR adj_t', macs=gcn_macs))
    gcn2 = GCN2Conv(F, alpha=0.1)
    entries.append(Entry('GCN2Conv', lambda x: gcn2(x, x0, ei),
                         _params(gcn2), 'edge_index', macs=gcn_macs))
    return entries, ei


def large_reference_parts(ei: Tensor, N: int,
                          F: int) -> Tuple[List[Entry], Entry]:
    """The arithmetic a WJ layer cannot avoid on a big sparse graph, as
    separately timed parts: ``x @ [W1|W2]``, ``x0 @ W3`` and one CSR
    product with ``M = (1-alpha) A_hat - I``, built beforehand (one spmm
    gives the neighbour and ``-x W2`` terms)."""
    from torch_geometric.utils import coalesce

    from pyg_wj.utils import csr_matmul, normalize_edge_index

    alpha = 0.1
    index, weight = normalize_edge_index(ei, None, N)
    loops = torch.arange(N).expand(2, -1)
    index, weight = coalesce(torch.cat([index, loops], dim=1),
                             torch.cat([(1 - alpha) * weight,
                                        -torch.ones(N)]), N)
    # adj_t in CSR: row = target
    m_op = torch.sparse_coo_tensor(index.flip(0), weight,
                                   (N, N)).coalesce().to_sparse_csr()
    m_op_t = m_op.t().to_sparse_csr()
    nnz = m_op._nnz()
    gen = torch.Generator().manual_seed(1)
    w12 = (torch.randn(F, 2 * F, generator=gen) / F**0.5).requires_grad_()
    w3 = (torch.randn(F, F, generator=gen) / F**0.5).requires_grad_()
    x0 = torch.randn(N, F, generator=gen)
    # for comparison, not part of the reference: the same product with
    # torch.sparse.mm's autograd, which re-transposes M on every call
    plain = Entry('CSR spmm M @ h with autograd\'s backward (comparison)',
                  lambda x: torch.sparse.mm(m_op, x), [], 'CSR',
                  macs=nnz * F)
    return [
        Entry('part: GEMM x @ [W1|W2]', lambda x: x @ w12, [w12],
              macs=N * F * 2 * F),
        Entry('part: GEMM x0 @ W3', lambda x: x0 @ w3, [w3], grad_x=False,
              macs=N * F * F),
        Entry('part: CSR spmm M @ h (prebuilt M^T for backward)',
              lambda x: csr_matmul(m_op, m_op_t, x), [], macs=nnz * F),
    ], plain


# --------------------------------------------------------------------------
# the suite
# --------------------------------------------------------------------------

def _scatter_note() -> Tuple[bool, str]:
    import torch_geometric.typing as pyg_typing
    try:
        import torch_scatter  # noqa: F401
        importable = True
    except Exception:
        importable = False
    note = (f'torch_scatter importable: {importable}; PyG uses it: '
            f'{pyg_typing.WITH_TORCH_SCATTER}; pyg-lib: '
            f'{pyg_typing.WITH_PYG_LIB}; torch-sparse: '
            f'{pyg_typing.WITH_TORCH_SPARSE}.')
    if not importable:
        note += (' The edge_index paths (GCNConv, GCN2Conv, WJConv with '
                 'learnable edge weights) aggregate with torch\'s own '
                 'scatter_reduce/index_add; a torch_scatter comparison was '
                 'not possible in this environment.')
    return importable, note


def _run_case(case: str, entries: List[Entry], ref_entry: Optional[Entry],
              ref_parts: List[Entry], x: Tensor, grad_out: Tensor,
              threads: int, settings: Settings) -> List[Dict[str, Any]]:
    """Measure every entry right after a fresh measurement of the reference.

    The host's speed drifts on a shared VM (the ``reference_spread`` of a
    report shows by how much), so a reference measured once, minutes away
    from an entry, can make any ratio wrong. Each ratio therefore pairs an
    entry with the reference measured just before it; the reference record
    reports the median and the spread of all its measurements
    (``reference_spread``). Peak memory does not drift and is measured
    once per thing.
    """
    def measure_reference(memory: bool):
        if ref_entry is not None:
            return _measure(ref_entry, x, grad_out, threads, settings,
                            memory), []
        parts = []
        for part in ref_parts:
            g = torch.randn(part.forward(x).shape)
            parts.append((part, _measure(part, x, g, threads, settings,
                                         memory)))
        return _sum_parts([m for _, m in parts]), parts

    ref_name = ref_entry.name if ref_entry is not None else REFERENCE
    common.log(f'layer: {case}: {ref_name}')
    ref_runs = [measure_reference(memory=True)]
    rows: List[Tuple[Entry, Any, Dict[str, Any]]] = []
    for k, entry in enumerate(entries):
        if k:  # the first entry pairs with the reference measured above
            ref_runs.append(measure_reference(memory=False))
        common.log(f'layer: {case}: {entry.name}')
        try:
            m = _measure(entry, x, grad_out, threads, settings)
        except Exception as exc:  # one broken path must not hide the rest
            common.log(f'layer: {case}: {entry.name} FAILED: {exc!r}')
            m = exc
        rows.append((entry, m, ref_runs[-1][0]))
    ref = _median_measurements([r for r, _ in ref_runs])
    records = _reference_records(case, ref_entry, ref_parts, ref_runs, ref,
                                 threads)
    return records + [_entry_record(case, entry, m, paired_ref, threads)
                      for entry, m, paired_ref in rows]


def _reference_records(case: str, ref_entry: Optional[Entry],
                       ref_parts: List[Entry], ref_runs: List[Any],
                       ref: Dict[str, Any],
                       threads: int) -> List[Dict[str, Any]]:
    """The records of the reference's parts (if any) and of the reference,
    the median ``ref`` of its repeated measurements ``ref_runs``."""
    spread = [min(r['fwdbwd'].median for r, _ in ref_runs) * 1e3,
              max(r['fwdbwd'].median for r, _ in ref_runs) * 1e3]
    records = []
    for i, part in enumerate(ref_parts):
        m = _median_measurements([parts[i][1] for _, parts in ref_runs])
        records.append(_record(part.name, case, m, ref, threads,
                               note='part of the reference',
                               macs=part.macs))
    note = ref_entry.note if ref_entry is not None else (
        'sum of the parts above (medians and IQRs added, peak memory the '
        'largest part)')
    ref_macs = (ref_entry.macs if ref_entry is not None else
                sum(p.macs or 0 for p in ref_parts) or None)
    records.append(_record(
        REFERENCE, case, ref, ref, threads,
        ref_entry.layout if ref_entry else '',
        note + f'; measured {len(ref_runs)} times, once before each layer; '
        f'median of those shown', macs=ref_macs))
    records[-1]['reference_spread_fwdbwd_ms'] = spread
    common.log(f'layer: {case}: reference fwd+bwd median '
               f'{ref["fwdbwd"].median_ms:.3f} ms over {len(ref_runs)} '
               f'measurements, spread {spread[0]:.3f}-{spread[1]:.3f} ms')
    return records


def _entry_record(case: str, entry: Entry, m: Any,
                  paired_ref: Dict[str, Any], threads: int) -> Dict[str, Any]:
    """One entry's record against the reference measured just before it
    (``m`` is the exception where its measurement failed)."""
    if isinstance(m, Exception):
        return {'name': entry.name, 'case': case,
                'fwd_ms': None, 'fwdbwd_ms': None,
                'peak_mem_mb': None, 'ratio_to_reference': None,
                'layout': entry.layout, 'threads': threads,
                'note': f'failed: {m!r}'}
    r = _record(entry.name, case, m, paired_ref, threads, entry.layout,
                entry.note, entry.macs)
    common.log(f"layer:   {entry.name}: fwd {m['fwd'].short()}, fwd+bwd "
               f"{m['fwdbwd'].short()}, x{r['ratio_to_reference']:.2f} "
               f"of the reference measured just before, peak "
               f"{r['peak_mem_mb']:.1f} MiB")
    return r


def _median_share(shares) -> Optional[float]:
    import statistics
    known = [s for s in shares if s is not None]
    return statistics.median(known) if known else None


def _median_measurements(ms: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One summary of repeated measurements of the same thing: the median
    of their medians (robust to a slow spell of the host), their mean IQR,
    and the memory of the run that measured it."""
    import statistics

    def med(key):
        ts = [m[key] for m in ms]
        return common.Timing(
            median=statistics.median(t.median for t in ts),
            iqr=statistics.fmean(t.iqr for t in ts),
            q25=statistics.median(t.q25 for t in ts),
            q75=statistics.median(t.q75 for t in ts),
            samples=sum(t.samples for t in ts),
            runs_per_sample=min(t.runs_per_sample for t in ts),
            contention=_median_share(t.contention for t in ts))
    mems = [m for m in ms if m['mem_fwd'] is not None]
    return {'fwd': med('fwd'), 'fwdbwd': med('fwdbwd'),
            'mem_fwd': max((m['mem_fwd'] for m in mems), default=None),
            'mem_fwdbwd': max((m['mem_fwdbwd'] for m in mems),
                              default=None)}


def _sum_parts(measurements: List[Dict[str, Any]]) -> Dict[str, Any]:
    def add(key):
        ts = [m[key] for m in measurements]
        return common.Timing(
            median=sum(t.median for t in ts), iqr=sum(t.iqr for t in ts),
            q25=sum(t.q25 for t in ts), q75=sum(t.q75 for t in ts),
            samples=min(t.samples for t in ts),
            runs_per_sample=min(t.runs_per_sample for t in ts),
            contention=_worst(*(t.contention for t in ts)))
    mems = [m for m in measurements if m['mem_fwd'] is not None]
    return {'fwd': add('fwd'), 'fwdbwd': add('fwdbwd'),
            'mem_fwd': max((m['mem_fwd'] for m in mems), default=None),
            'mem_fwdbwd': max((m['mem_fwdbwd'] for m in mems),
                              default=None)}


def run(out_dir: Path, quick: bool, threads: int) -> List[Dict[str, Any]]:
    env = common.environment(threads)
    with warnings.catch_warnings():
        # PyG's CSR conversions warn that sparse CSR is 'beta' on each call
        warnings.simplefilter('ignore', UserWarning)
        records = _run(quick, threads)
    _, scatter_note = _scatter_note()
    common.atomic_write_json(out_dir / 'layer.json', records)
    write_text_atomic(out_dir / 'layer.md',
                      markdown(records, env, quick, scatter_note))
    try:
        plot(records, out_dir / 'layer.png')
    except Exception as exc:  # a missing matplotlib must not lose the data
        common.log(f'layer: no picture ({exc!r})')
    common.log(f'layer: wrote {out_dir / "layer.json"}, layer.md, layer.png')
    return records


def _run(quick: bool, threads: int) -> List[Dict[str, Any]]:
    if common.smoke():
        settings = Settings(min_run_time=0.01, min_samples=1, warmup=1,
                            max_time=0.05)
        skeleton_cases = [(4, 8)]
        n, e = 500, 2_000
    elif quick:
        settings = Settings(min_run_time=0.05, min_samples=3, warmup=1,
                            max_time=2.0)
        skeleton_cases = [(64, 64)]
        n, e = 10_000, 100_000
    else:
        settings = Settings(min_run_time=0.3, min_samples=5, warmup=2,
                            max_time=10.0)
        skeleton_cases = [(b, f) for f in (64, 384) for b in (64, 256, 1024)]
        n, e = 100_000, 1_000_000
    records: List[Dict[str, Any]] = []
    for B, F in skeleton_cases:
        case = f'skeleton B={B} F={F}'
        entries, ref, grad_out = skeleton_entries(B, F)
        torch.manual_seed(2)
        x = torch.randn(B, 17, F, requires_grad=True)
        records += _run_case(case, entries, ref, [], x, grad_out, threads,
                             settings)
    F = 64
    case = f'random graph N={n:,} E={e:,} F={F}'
    common.log(f'layer: building {case}')
    entries, ei = large_entries(n, e, F)
    parts, plain_spmm = large_reference_parts(ei, n, F)
    entries.append(plain_spmm)
    torch.manual_seed(2)
    x = torch.randn(n, F, requires_grad=True)
    grad_out = torch.randn(n, F)
    records += _run_case(case, entries, None, parts, x, grad_out, threads,
                         settings)
    importable, note = _scatter_note()
    records.append({'name': 'torch_scatter aggregation vs PyG default',
                    'case': case, 'fwd_ms': None, 'fwdbwd_ms': None,
                    'peak_mem_mb': None, 'ratio_to_reference': None,
                    'threads': threads,
                    'note': ('measured above: PyG picked torch_scatter at '
                             'import' if importable else 'skipped: ' + note)})
    return records


# --------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------

def markdown(records: List[Dict[str, Any]], env: Dict[str, Any],
             quick: bool, scatter_note: str) -> str:
    lines = common.header_lines('Layer speed and memory', env, quick)
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
    cases = []
    for r in records:
        if r['case'] not in cases and r.get('fwd_ms') is not None:
            cases.append(r['case'])
    for case in cases:
        lines += _case_lines(records, case)
    failed = [r for r in records if r.get('fwd_ms') is None]
    if failed:
        lines += ['## Not measured', '']
        for r in failed:
            lines.append(f"* {r['name']} ({r['case']}): {r.get('note', '')}")
        lines.append('')
    return '\n'.join(lines)


def _case_lines(records: List[Dict[str, Any]], case: str) -> List[str]:
    """The report's section on one case: the reference's drift and a
    table of its timed records."""
    lines = [f'## {case}', '']
    ref = next((r for r in records if r['case'] == case and
                r['name'] == REFERENCE), None)
    if ref is not None and ref.get('reference_spread_fwdbwd_ms'):
        lo, hi = ref['reference_spread_fwdbwd_ms']
        lines += [f"The reference was measured before every layer (each "
                  f"ratio pairs a layer with the reference measured just "
                  f"before it); its fwd+bwd median ranged {lo:.3f}-"
                  f"{hi:.3f} ms over the case (x{hi / lo:.2f}), which "
                  f"is how much the machine's speed drifted.", '']
    rows = []
    contended = 0
    for r in records:
        if r['case'] != case or r.get('fwd_ms') is None:
            continue
        flag = (r.get('contention') or 0) > common.CONTENTION_LIMIT
        if flag:
            contended += 1
        rows.append([
            r['name'] + (' **(contended)**' if flag else ''),
            f"{r['fwd_ms']:.3f} ± {r['fwd_iqr_ms']:.3f}",
            f"{r['fwdbwd_ms']:.3f} ± {r['fwdbwd_iqr_ms']:.3f}",
            f"{r['fwd_ratio_to_reference']:.2f}",
            f"{r['ratio_to_reference']:.2f}",
            f"{r['peak_mem_fwd_mb']:.1f}", f"{r['peak_mem_mb']:.1f}",
            common.fmt(r.get('fwd_gflops'), 1)])
    lines.append(markdown_table(
        ['layer', 'fwd ms (median ± IQR)', 'fwd+bwd ms (median ± IQR)',
         'fwd / ref', 'fwd+bwd / ref', 'peak fwd MiB',
         'peak fwd+bwd MiB', 'fwd GFLOP/s'], rows))
    lines.append('')
    if contended:
        lines += [f'**{contended} row(s) contended**: other processes '
                  f'used more than {100 * common.CONTENTION_LIMIT:.0f}% '
                  f'of the CPUs while they (or their reference) were '
                  f'timed; their times and ratios are not reliable.', '']
    return lines


def plot(records: List[Dict[str, Any]], path: Path) -> None:
    """Forward+backward ratio to the reference, one panel per chosen case:
    the largest skeleton case with F=384 (or the only one) and the graph."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    timed = [r for r in records if r.get('fwd_ms') is not None and
             not r['name'].startswith('part:')]
    skeleton = [c for c in dict.fromkeys(r['case'] for r in timed)
                if c.startswith('skeleton')]
    pick = [c for c in skeleton if c == 'skeleton B=256 F=384'] or \
        skeleton[-1:]
    pick += [c for c in dict.fromkeys(r['case'] for r in timed)
             if c.startswith('random graph')]
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, len(pick), figsize=(8.5 * len(pick), 6.5),
                             squeeze=False, constrained_layout=True)
    for ax, case in zip(axes[0], pick):
        rows = [r for r in timed if r['case'] == case]
        rows.sort(key=lambda r: r['ratio_to_reference'])
        names = [r['name'] for r in rows]
        fwd = [r['fwd_ratio_to_reference'] for r in rows]
        bwd = [r['ratio_to_reference'] for r in rows]
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], bwd, height=0.4, label='fwd+bwd')
        ax.barh([i - 0.2 for i in y], fwd, height=0.4, label='fwd')
        ax.axvline(1.0, color='k', lw=0.8)
        ax.set_yticks(list(y))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xscale('log')
        plain = FuncFormatter(lambda v, _: f'{v:g}')
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis='x', which='minor', labelsize=6)
        ax.set_xlabel('time / reference (log scale)')
        ax.set_title(case, fontsize=9)
        ax.legend(fontsize=7)
    threads = timed[0]['threads'] if timed else '?'
    fig.suptitle(f'Layer time relative to the sum-of-parts reference '
                 f'({threads} threads)', fontsize=10)
    common.atomic_save_figure(fig, path)
    plt.close(fig)

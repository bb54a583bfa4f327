"""What the layer suite times: the layers on each case's input, and the
hand-written references they are divided by."""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch_geometric.typing as pyg_typing
from torch import Tensor, nn
from torch_geometric import EdgeIndex
from torch_geometric.nn import DenseGCNConv, GCN2Conv, GCNConv
from torch_geometric.utils import coalesce, to_torch_csr_tensor

from benchmarks.counting import EQ6, analytic_macs_wj_layer, nnz_of_jacobi
from benchmarks.layer.record import REFERENCE
from models.pose.data.skeleton import get_skeleton
from pyg_wj import DenseWJConv, WJConv
from pyg_wj.utils import csr_matmul, normalize_dense_adj, normalize_edge_index


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
    gcn = GCNConv(F, F)
    gcn_c = GCNConv(F, F, cached=True)
    return [Entry('GCNConv', lambda x: gcn(x, ei), _params(gcn),
                  'edge_index', macs=macs),
            Entry('GCNConv cached', lambda x: gcn_c(x, ei), _params(gcn_c),
                  'edge_index', macs=macs)]


def skeleton_entries(B: int, F: int) -> Tuple[List[Entry], Entry, Tensor]:
    """Layers on ``[B, 17, F]`` and the hand-fused dense reference."""
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


def scatter_note() -> Tuple[bool, str]:
    """Whether torch_scatter is importable, and a sentence on which
    aggregation backends PyG found."""
    try:  # optional: only asked whether it is there
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

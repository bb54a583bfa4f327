"""Input checks shared by the WJ layers.

Every check raises with the argument's name, the shape (or dtype) seen and
the one expected, so a user can fix the call without reading our source.
They only read sizes and dtypes, so they cost nothing next to the layer.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = ['check_node_features', 'check_initial_features',
           'check_edge_index', 'check_edge_weight', 'check_weight_values',
           'check_dense_adj']


def _shape(t: Tensor) -> str:
    return str(list(t.shape))


def check_node_features(x: Tensor, channels: int, name: str = 'x') -> None:
    """``x`` must be a floating tensor ``[*, num_nodes, channels]``."""
    if isinstance(x, (tuple, list)):
        raise TypeError(f"'{name}' must be a torch.Tensor [*, num_nodes, "
                        f"{channels}], got a {type(x).__name__} (a bipartite "
                        f"pair (x_src, x_dst), e.g. from to_hetero on an edge "
                        f"type between two node types): the WJ rule mixes a "
                        f"node with its own previous state, so source and "
                        f"target must be one node set")
    if not isinstance(x, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor, got "
                        f"{type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"'{name}' must be a floating-point tensor, got dtype "
                        f"{x.dtype} (cast it with {name}.float())")
    if x.dim() < 2:
        raise ValueError(f"'{name}' must have shape [*, num_nodes, "
                         f"{channels}] (at least 2 dimensions), got shape "
                         f"{_shape(x)}")
    if channels != -1 and x.size(-1) != channels:
        raise ValueError(f"'{name}' must have {channels} channels in its last "
                         f"dimension, got shape {_shape(x)} (expected "
                         f"[*, num_nodes, {channels}])")


def check_initial_features(x_0: Tensor, x: Tensor, channels: int,
                           name: str = 'x_0') -> None:
    """``x_0`` must share ``x``'s leading shape and have ``channels``."""
    check_node_features(x_0, channels, name)
    if x_0.shape[:-1] != x.shape[:-1]:
        expected = list(x.shape[:-1]) + [channels]
        raise ValueError(f"'{name}' must have the same leading shape as 'x' "
                         f"{list(x.shape[:-1])}: expected {expected}, got "
                         f"{_shape(x_0)}")
    if x_0.dtype != x.dtype:
        raise TypeError(f"'{name}' has dtype {x_0.dtype} but 'x' has "
                        f"{x.dtype}; both must have the same dtype")


def _eager() -> bool:
    """Value checks (a host sync each) run in eager mode only: under
    ``torch.compile`` they would break the graph, so, as PyG's
    ``MessagePassing`` does for index ranges, they are skipped there."""
    return not (torch.jit.is_scripting() or torch.compiler.is_compiling())


def check_edge_index(edge_index: Tensor, num_nodes: int) -> None:
    """``edge_index`` must be a ``torch.long`` (or ``torch.int32``)
    ``[2, num_edges]`` tensor whose entries lie in ``[0, num_nodes)``."""
    if edge_index.dtype not in (torch.long, torch.int32):
        raise TypeError(f"'edge_index' must be an integer tensor of dtype "
                        f"torch.long (or torch.int32), got dtype "
                        f"{edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, num_edges], got "
                         f"{_shape(edge_index)}")
    if edge_index.numel() > 0 and _eager():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"'edge_index' holds node indices in "
                             f"[{lo}, {hi}] but the input has {num_nodes} "
                             f"nodes (expected indices in [0, "
                             f"{num_nodes - 1}])")


def check_edge_weight(edge_weight: Optional[Tensor], num_edges: int) -> None:
    if edge_weight is None:
        return
    if not isinstance(edge_weight, Tensor):
        raise TypeError(f"'edge_weight' must be a torch.Tensor [{num_edges}], "
                        f"got {type(edge_weight).__name__}")
    if not edge_weight.is_floating_point():
        raise TypeError(f"'edge_weight' must be a floating-point tensor, got "
                        f"dtype {edge_weight.dtype}")
    if edge_weight.dim() != 1 or edge_weight.numel() != num_edges:
        raise ValueError(f"'edge_weight' must have shape [{num_edges}] (one "
                         f"weight per edge), got {_shape(edge_weight)}")


def check_weight_values(weight: Tensor, normalize: bool,
                        name: str = 'edge_weight') -> None:
    """Edge weights (or a dense ``adj``) must be finite, and non-negative
    when the layer normalises: :math:`D^{-1/2}` of a negative degree is
    NaN. Eager mode only (see :func:`_eager`)."""
    if weight.numel() == 0 or not _eager():
        return
    if not bool(torch.isfinite(weight.detach()).all()):
        raise ValueError(f"'{name}' must be finite, got "
                         f"{int((~torch.isfinite(weight)).sum())} NaN/inf "
                         f"entries")
    if normalize:
        low = float(weight.detach().min())
        if low < 0:
            raise ValueError(f"'{name}' must be non-negative with "
                             f"normalize=True (D^-1/2 of a negative degree "
                             f"is NaN), got a minimum of {low:g}; pass "
                             f"normalize=False with a weighting you "
                             f"normalised yourself")


def check_dense_adj(adj: Tensor, num_nodes: int,
                    batch_shape: Sequence[int]) -> None:
    """``adj`` must be ``[N, N]`` or ``[B, N, N]`` with ``B`` matching."""
    if not isinstance(adj, Tensor) or adj.is_sparse or adj.layout != \
            torch.strided:
        raise TypeError("'adj' must be a dense torch.Tensor (use WJConv for "
                        "sparse adjacencies)")
    if not adj.is_floating_point():
        raise TypeError(f"'adj' must be a floating-point tensor, got dtype "
                        f"{adj.dtype}")
    n = num_nodes
    if adj.dim() == 2:
        ok = tuple(adj.shape) == (n, n)
    elif adj.dim() == 3:
        ok = (tuple(adj.shape[1:]) == (n, n)
              and list(batch_shape) == [adj.size(0)])
    else:
        ok = False
    if not ok:
        b = list(batch_shape)
        expected = f"[{n}, {n}]" + (f" or {b + [n, n]}" if len(b) == 1
                                    else "")
        raise ValueError(f"'adj' must have shape {expected} for 'x' with "
                         f"{n} nodes, got {_shape(adj)}")

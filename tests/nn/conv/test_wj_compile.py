"""torch.compile equals eager on every WJConv layout.

PyTorch 2.13's inductor (CPU) drops ``alpha`` in ``torch.add(y, x @ W,
alpha=a)``, and with per-edge messages also got ``h + omega * (m + mm * a)``
wrong under ``fullgraph=True``; ``WJRule._combine`` avoids both forms.
These tests pin that: each compiles one function covering several layouts
(a compile costs seconds), and compares with eager.
"""
import functools

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.utils import to_torch_csr_tensor

from pyg_wj import DenseWJConv, WJConv
from tests.nn._parameters import randomize

randomized = functools.partial(randomize, seed=0, scale=1.0)


def graph(num_nodes, seed):
    g = torch.Generator().manual_seed(seed)
    e = torch.randint(0, num_nodes, (2, 4 * num_nodes), generator=g)
    return e, torch.rand(e.size(1), generator=g) + 0.5




def assert_all_close(compiled, eager):
    for i, (a, b) in enumerate(zip(compiled, eager)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4,
                                   msg=f'output {i}')


@pytest.mark.slow
@pytest.mark.parametrize('parametrization', ['tied', 'paper'])
def test_fullgraph_edge_index_layouts(parametrization):
    """edge_index on <= 64 nodes (dense matmul) and > 64 nodes (messages
    when compiled), batched [B, N, F], learned edge weights: one graph."""
    torch._dynamo.reset()
    conv = randomized(WJConv(4, 4, omega='channel',
                             parametrization=parametrization))
    (es, ws), (el, wl) = graph(9, 1), graph(80, 2)
    xs, xl, xb = torch.randn(9, 4), torch.randn(80, 4), torch.randn(3, 80, 4)
    learned = ws.clone().requires_grad_()

    def f(xs, xl, xb, es, ws, el, wl, learned):
        return (conv(xs, xs, es, ws), conv(xl, xl, el, wl),
                conv(xb, xb, el, wl), conv(xs, xs, es, learned),
                conv(xs.expand(2, 9, 4), xs.expand(2, 9, 4), es))

    args = (xs, xl, xb, es, ws, el, wl, learned)
    assert_all_close(torch.compile(f, fullgraph=True)(*args), f(*args))


@pytest.mark.slow
def test_compile_sparse_layouts_and_skeleton_config():
    """CSR adj_t and EdgeIndex on > 64 nodes, and the pose model's
    configuration (per-node Omega, modulation, dense twin)."""
    torch._dynamo.reset()
    conv = randomized(WJConv(4, 4, omega='channel'))
    el, wl = graph(80, 2)
    csr = to_torch_csr_tensor(el.flip(0), wl, (80, 80))
    eidx = EdgeIndex(el, sparse_size=(80, 80))
    skel = randomized(WJConv(4, 4, num_nodes=9, modulation=True))
    dense = DenseWJConv(4, 4, num_nodes=9, modulation=True)
    dense.load_state_dict(skel.state_dict())
    es, ws = graph(9, 1)
    adj = torch.zeros(9, 9).index_put_((es[1], es[0]), ws, accumulate=True)
    x, xs = torch.randn(80, 4), torch.randn(5, 9, 4)

    def f(x, csr, eidx, wl, xs, es, ws, adj):
        return (conv(x, x, csr), conv(x, x, eidx, wl),
                skel(xs, xs, es, ws), dense(xs, xs, adj))

    args = (x, csr, eidx, wl, xs, es, ws, adj)
    assert_all_close(torch.compile(f)(*args), f(*args))

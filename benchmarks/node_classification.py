"""Node classification with WJConv against PyG's layers and an MLP.

Every graph ships with an installed package, nothing is downloaded:

* ``karate``: Zachary's karate club from PyTorch Geometric (34 nodes, 4
  communities, one labelled node per community, one-hot node features);
* ``digits``, ``digits-onehot``: scikit-learn's bundled 8x8 digits (1797
  images) as a k-NN graph (k = 10, made undirected), with the 64 pixel
  values (standardised) or one-hot node ids as features, 10 labelled nodes
  per class;
* ``wine``, ``breast_cancer``, ``iris``: scikit-learn's bundled tables as
  k-NN graphs in the same way (standardised features, 5 labelled nodes per
  class).

Each model has two graph layers of width 16 (GCN2Conv: a linear layer in,
two GCN2Conv layers, a linear layer out, as PyG's example), ReLU and
dropout 0.5 between them, and is trained with Adam (lr 0.01, weight decay
5e-4) for a fixed number of epochs on the labelled nodes; the accuracy on
all other nodes after the last epoch is reported, as mean and standard
deviation over seeds (the seed draws the labelled nodes and the
initialisation, the same for every model).

The WJConv rows cover the parametrisations of
:class:`pyg_wj.nn.WJConv`: the default for general graphs, the paper's
eq. (6) (what the layer did before, without self-loops) and the other
candidates. ``python -m benchmarks node_classification`` writes
``node_classification.json`` and ``.md``.
"""
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
import torch_geometric.nn as pyg
from torch import Tensor
from torch_geometric.datasets import KarateClub
from torch_geometric.utils import to_undirected

from benchmarks import _common as common
from benchmarks.options import RunOptions
from models.common.markdown import markdown_table
from pyg_wj import WJConv

HIDDEN = 16
LR = 0.01
WEIGHT_DECAY = 5e-4
DROPOUT = 0.5
FULL = dict(seeds=10, epochs=200, graphs=('karate', 'digits', 'digits-onehot',
                                          'wine', 'breast_cancer', 'iris'))
QUICK = dict(seeds=2, epochs=20, graphs=('karate', 'iris'))


# --------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------

class Graph:
    """Features, an undirected edge_index and labels; ``split(seed)`` gives
    the boolean mask of the labelled nodes."""

    def __init__(self, name: str, x: Tensor, edge_index: Tensor, y: Tensor,
                 per_class: int, fixed_train: Optional[Tensor] = None):
        self.name, self.x, self.edge_index, self.y = name, x, edge_index, y
        self.per_class = per_class
        self.fixed_train = fixed_train
        self.num_classes = int(y.max()) + 1

    def split(self, seed: int) -> Tensor:
        if self.fixed_train is not None:
            return self.fixed_train
        g = torch.Generator().manual_seed(seed)
        mask = torch.zeros(self.y.numel(), dtype=torch.bool)
        for c in range(self.num_classes):
            idx = (self.y == c).nonzero().view(-1)
            pick = idx[torch.randperm(idx.numel(), generator=g)]
            mask[pick[:self.per_class]] = True
        return mask


def _knn_graph(name: str, features, labels, k: int, per_class: int,
               one_hot: bool = False) -> Graph:
    # scikit-learn is optional (the bench extra): karate needs none of it
    from sklearn.neighbors import kneighbors_graph
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(features)
    adj = kneighbors_graph(scaled, k, include_self=False).tocoo()
    edge_index = torch.stack([torch.as_tensor(adj.col, dtype=torch.long),
                              torch.as_tensor(adj.row, dtype=torch.long)])
    n = scaled.shape[0]
    edge_index = to_undirected(edge_index, num_nodes=n)
    x = (torch.eye(n) if one_hot else
         torch.as_tensor(scaled, dtype=torch.float32))
    return Graph(name, x, edge_index,
                 torch.as_tensor(labels, dtype=torch.long), per_class)


def load_graph(name: str) -> Graph:
    """One of the graphs named in the module docstring."""
    if name == 'karate':
        data = KarateClub()[0]
        return Graph(name, data.x, data.edge_index, data.y, 1,
                     fixed_train=data.train_mask)
    try:  # optional, see _knn_graph
        from sklearn import datasets
    except ImportError as e:  # pragma: no cover
        raise RuntimeError(f"graph {name!r} needs scikit-learn (pip install "
                           f"'pyg-wj[bench]')") from e
    if name in ('digits', 'digits-onehot'):
        d = datasets.load_digits()
        return _knn_graph(name, d.data, d.target, 10, 10,
                          one_hot=name == 'digits-onehot')
    loader = {'wine': datasets.load_wine, 'iris': datasets.load_iris,
              'breast_cancer': datasets.load_breast_cancer}.get(name)
    if loader is None:
        raise ValueError(f'unknown graph {name!r}')
    d = loader()
    return _knn_graph(name, d.data, d.target, 10, 5)


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class TwoLayer(torch.nn.Module):
    """Two graph layers (or linear layers for the MLP)."""

    def __init__(self, make: Callable[[int, int, int], torch.nn.Module],
                 in_channels: int, out_channels: int, takes_x0: bool,
                 graph: bool = True):
        super().__init__()
        self.conv1 = make(in_channels, HIDDEN, in_channels)
        self.conv2 = make(HIDDEN, out_channels, in_channels)
        self.takes_x0, self.graph = takes_x0, graph

    def layer(self, conv, h: Tensor, x: Tensor, edge_index: Tensor) -> Tensor:
        if not self.graph:
            return conv(h)
        if self.takes_x0:
            return conv(h, x, edge_index)
        return conv(h, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = F.relu(self.layer(self.conv1, x, x, edge_index))
        h = F.dropout(h, p=DROPOUT, training=self.training)
        return self.layer(self.conv2, h, x, edge_index)


class GCN2Net(torch.nn.Module):
    """GCN2Conv keeps its width: a linear layer in and out, as PyG's
    example."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin_in = torch.nn.Linear(in_channels, HIDDEN)
        self.convs = torch.nn.ModuleList(
            pyg.GCN2Conv(HIDDEN, alpha=0.1, theta=0.5, layer=i + 1,
                         cached=True)
            for i in range(2))
        self.lin_out = torch.nn.Linear(HIDDEN, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = h_0 = F.relu(self.lin_in(x))
        for conv in self.convs:
            h = F.dropout(h, p=DROPOUT, training=self.training)
            h = F.relu(conv(h, h_0, edge_index))
        return self.lin_out(h)


def _wj(**kwargs) -> Callable[[int, int], torch.nn.Module]:
    def build(in_channels: int, out_channels: int) -> torch.nn.Module:
        return TwoLayer(lambda i, o, x0: WJConv(i, o, x0_channels=x0,
                                                cached=True, **kwargs),
                        in_channels, out_channels, takes_x0=True)
    return build


def _pyg(name: str) -> Callable[[int, int], torch.nn.Module]:
    def build(in_channels: int, out_channels: int) -> torch.nn.Module:
        cls = getattr(pyg, name)
        extra = {'cached': True} if name == 'GCNConv' else {}
        return TwoLayer(lambda i, o, _: cls(i, o, **extra), in_channels,
                        out_channels, takes_x0=False)
    return build


def _mlp(in_channels: int, out_channels: int) -> torch.nn.Module:
    return TwoLayer(lambda i, o, _: torch.nn.Linear(i, o), in_channels,
                    out_channels, takes_x0=False, graph=False)


#: name -> (builder, description). The first WJ row is the layer's default.
MODELS: Dict[str, Any] = {
    'WJConv (default)': (_wj(), "WJConv(in, out) without num_nodes: "
                         "parametrization='tied', omega='none', self-loops"),
    # more Jacobi steps per layer (the paper's future work): the same
    # layer run K times on its graph, converging to the fairing solve
    'WJConv (default), 2 steps': (_wj(num_steps=2),
                                  'the default with num_steps=2'),
    'WJConv (default), 3 steps': (_wj(num_steps=3),
                                  'the default with num_steps=3'),
    'WJConv tied, Omega per channel': (
        _wj(parametrization='tied', omega='channel'),
        "parametrization='tied', omega='channel', self-loops"),
    'WJConv separate W_s': (_wj(parametrization='separate'),
                            "parametrization='separate', omega='channel', "
                            "self-loops"),
    'WJConv paper eq. (6)': (_wj(parametrization='paper', omega='channel',
                                 add_self_loops=False),
                             "parametrization='paper', omega='channel', no "
                             "self-loops (the layer before this change)"),
    'GCNConv': (_pyg('GCNConv'), 'torch_geometric.nn.GCNConv'),
    'GCN2Conv': (lambda i, o: GCN2Net(i, o), 'torch_geometric.nn.GCN2Conv'),
    'GraphConv': (_pyg('GraphConv'), 'torch_geometric.nn.GraphConv'),
    'SAGEConv': (_pyg('SAGEConv'), 'torch_geometric.nn.SAGEConv'),
    'MLP': (_mlp, 'two nn.Linear layers, no graph'),
}


def train_and_test(build: Callable[[int, int], torch.nn.Module],
                   graph: Graph, seed: int, epochs: int) -> float:
    train = graph.split(seed)
    torch.manual_seed(seed)
    model = build(graph.x.size(1), graph.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=LR,
                           weight_decay=WEIGHT_DECAY)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(graph.x, graph.edge_index)
        F.cross_entropy(out[train], graph.y[train]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(graph.x, graph.edge_index).argmax(dim=-1)
    test = ~train
    return float((pred[test] == graph.y[test]).float().mean())


def run(opts: RunOptions,
        models: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    env = common.environment(opts)
    cfg = QUICK if opts.quick else FULL
    names = list(MODELS) if models is None else models
    records = []
    for graph_name in cfg['graphs']:
        graph = load_graph(graph_name)
        for name in names:
            build, description = MODELS[name]
            start = time.perf_counter()
            accs = [train_and_test(build, graph, s, cfg['epochs'])
                    for s in range(cfg['seeds'])]
            std = statistics.stdev(accs) if len(accs) > 1 else 0.0
            records.append({
                'name': name, 'model': description, 'graph': graph_name,
                'num_nodes': graph.x.size(0),
                'num_edges': graph.edge_index.size(1),
                'seeds': cfg['seeds'], 'epochs': cfg['epochs'],
                'accuracy_mean': statistics.mean(accs),
                'accuracy_std': std, 'accuracies': accs,
                'seconds': time.perf_counter() - start})
            common.log(f'node_classification: {graph_name:14s} {name:22s} '
                       f'{statistics.mean(accs):.3f} ± {std:.3f}')
    common.write_report(opts.out, 'node_classification', records,
                        markdown(records, env, opts))
    return records


def markdown(records: List[Dict[str, Any]], env: Dict[str, Any],
             opts: RunOptions) -> str:
    graphs = list(dict.fromkeys(r['graph'] for r in records))
    names = list(dict.fromkeys(r['name'] for r in records))
    cell = {(r['name'], r['graph']): r for r in records}
    rows = []
    for name in names:
        row = [name]
        for g in graphs:
            r = cell.get((name, g))
            row.append(None if r is None else
                       f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}")
        rows.append(row)
    seeds = records[0]['seeds'] if records else 0
    epochs = records[0]['epochs'] if records else 0
    lines = common.header_lines('Node classification: test accuracy', env,
                                opts)
    lines += [f'Mean ± standard deviation over {seeds} seeds, {epochs} '
              f'epochs, two layers of width {HIDDEN}; see '
              f'benchmarks/node_classification.py for the set-up.', '',
              markdown_table(['model'] + graphs, rows), '']
    return '\n'.join(lines)

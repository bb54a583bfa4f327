"""Node classification on Zachary's karate club: WJConv vs GCNConv vs
GCN2Conv at the same depth and width.

The karate club ships inside PyTorch Geometric (no download). Each model has
two graph layers of width 16 and is trained on the 4 labelled nodes (one per
community); accuracy is measured on the other 30 nodes, over several seeds.

    python examples/karate_club.py --seeds 10
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.datasets import KarateClub
from torch_geometric.nn import GCN2Conv, GCNConv

from pyg_wj import WJConv


class WJNet(torch.nn.Module):
    """Two WJ layers; both see the input features as initial features.

    The layers are built without ``num_nodes``, i.e. with the defaults for
    general graphs (``parametrization='tied'``, ``omega='none'``,
    self-loops), which smooth over the graph as GCNConv does; the paper's
    eq. (6) parametrisation pushes a node away from its neighbours here
    (see docs/wjconv.rst and ``python -m benchmarks node_classification``).
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int,
                 num_nodes: int):
        super().__init__()
        self.conv1 = WJConv(in_channels, hidden, cached=True)
        self.conv2 = WJConv(hidden, out_channels, x0_channels=in_channels,
                            cached=True)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = F.gelu(self.conv1(x, x, edge_index))
        h = F.dropout(h, p=0.5, training=self.training)
        return self.conv2(h, x, edge_index)


class GCNNet(torch.nn.Module):

    def __init__(self, in_channels: int, hidden: int, out_channels: int,
                 num_nodes: int):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = F.gelu(self.conv1(x, edge_index))
        h = F.dropout(h, p=0.5, training=self.training)
        return self.conv2(h, edge_index)


class GCN2Net(torch.nn.Module):
    """GCN2Conv keeps its width, so it needs linear layers in and out."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int,
                 num_nodes: int):
        super().__init__()
        self.lin_in = torch.nn.Linear(in_channels, hidden)
        self.convs = torch.nn.ModuleList(
            GCN2Conv(hidden, alpha=0.1, theta=0.5, layer=i + 1, cached=True)
            for i in range(2))
        self.lin_out = torch.nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = h_0 = F.gelu(self.lin_in(x))
        for conv in self.convs:
            h = F.dropout(h, p=0.5, training=self.training)
            h = F.gelu(conv(h, h_0, edge_index))
        return self.lin_out(h)


MODELS: Dict[str, Callable[..., torch.nn.Module]] = {
    'WJConv': WJNet, 'GCNConv': GCNNet, 'GCN2Conv': GCN2Net}


def train_and_test(model_cls, data, seed: int, epochs: int,
                   hidden: int = 16) -> float:
    torch.manual_seed(seed)
    model = model_cls(data.num_features, hidden, int(data.y.max()) + 1,
                      data.num_nodes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(data.x, data.edge_index)
        mask = data.train_mask
        F.cross_entropy(out[mask], data.y[mask]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(dim=-1)
    test = ~data.train_mask
    return float((pred[test] == data.y[test]).float().mean())


def run(seeds: int = 10, epochs: int = 200) -> Dict[str, List[float]]:
    data = KarateClub()[0]
    results: Dict[str, List[float]] = {}
    for name, cls in MODELS.items():
        start = time.perf_counter()
        results[name] = [train_and_test(cls, data, s, epochs)
                         for s in range(seeds)]
        accs = results[name]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f'{name:9s} test accuracy {statistics.mean(accs):.3f} '
              f'± {std:.3f} over {seeds} seeds '
              f'({time.perf_counter() - start:.1f} s)', flush=True)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--epochs', type=int, default=200)
    args = parser.parse_args(argv)
    print(f'Karate club: 34 nodes, 4 communities, 4 labelled nodes; '
          f'{args.epochs} epochs, hidden 16, 2 graph layers')
    run(args.seeds, args.epochs)


if __name__ == '__main__':
    main()

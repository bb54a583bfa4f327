import importlib.util
import pathlib

import pytest

EXAMPLE = pathlib.Path(__file__).parents[2] / 'examples' / 'karate_club.py'


@pytest.fixture(scope='module')
def karate():
    spec = importlib.util.spec_from_file_location('karate_club', EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_trains_all_three_models(karate, capsys):
    results = karate.run(seeds=2, epochs=30)
    assert set(results) == {'WJConv', 'GCNConv', 'GCN2Conv'}
    for accs in results.values():
        assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    printed = capsys.readouterr().out
    assert printed.count('test accuracy') == 3


def test_wj_model_learns_the_labelled_nodes(karate):
    import torch
    import torch.nn.functional as F
    data = karate.KarateClub()[0]
    torch.manual_seed(0)
    model = karate.WJNet(34, 16, 4, 34)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask],
                               data.y[data.train_mask])
        first = float(loss) if first is None else first
        loss.backward()
        opt.step()
    assert float(loss) < 0.2 * first

"""The node-classification benchmark at a tiny size (seconds)."""
import json

from benchmarks import node_classification as nc
from benchmarks.options import RunOptions


def test_tiny_run_writes_records(tmp_path, monkeypatch):
    monkeypatch.setitem(nc.QUICK, 'epochs', 5)
    records = nc.run(RunOptions(quick=True, threads=1, out=tmp_path),
                     models=['WJConv (default)', 'GCNConv', 'MLP'])
    assert {r['graph'] for r in records} == {'karate', 'iris'}
    for r in records:
        assert len(r['accuracies']) == r['seeds'] == 2
        assert 0.0 <= r['accuracy_mean'] <= 1.0
    saved = json.loads((tmp_path / 'node_classification.json').read_text())
    assert len(saved) == len(records) == 6
    text = (tmp_path / 'node_classification.md').read_text()
    assert text.startswith('# ') and '| WJConv (default) |' in text
    assert 'thread' in text


def test_graphs_and_splits():
    karate = nc.load_graph('karate')
    assert karate.split(0).sum() == 4  # PyG's fixed labelled nodes
    iris = nc.load_graph('iris')
    assert iris.x.shape == (150, 4) and iris.num_classes == 3
    mask = iris.split(3)
    assert mask.sum() == 15 and not mask.equal(iris.split(4))
    # undirected k-NN graph
    e = iris.edge_index
    assert set(map(tuple, e.t().tolist())) == set(map(tuple,
                                                      e.flip(0).t().tolist()))

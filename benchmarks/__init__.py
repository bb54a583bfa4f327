"""Benchmarks for pyg-wj: ``python -m benchmarks <suite>``.

Suites (each writes ``<out>/<suite>.json``, ``.md`` and, where useful,
``.png``):

* ``flops``: parameters and multiply-accumulates of every pose preset and
  of the WJ layers, counted three ways (fvcore with complete handles,
  analytically, and the thop-style convention of the paper's Table 4);
* ``layer``: time and peak memory of WJConv (every input layout and
  aggregation path), DenseWJConv and PyG's GCN layers, each as a ratio to
  a hand-written "sum of parts" reference measured in the same run;
* ``model``: pose-model inference and training throughput in fp32, bf16
  autocast and ``torch.compile``, against the machine's measured GEMM rate;
* ``node_classification``: test accuracy of WJConv's parametrisations
  against PyG's GCNConv, GCN2Conv, GraphConv, SAGEConv and an MLP on graphs
  that ship with PyG and scikit-learn, over seeds;
* ``all``: the four in turn.

The package is not installed with ``pyg_wj``; run it from the repository
root.
"""
SUITES = ('flops', 'layer', 'model', 'node_classification')

import importlib.util

import pytest
import torch_geometric.typing

#: Aggregation backends this machine can run: PyG's own scatter always,
#: torch-scatter where it is installed (CI builds it).
SCATTER_BACKENDS = [False] + (
    [True] if importlib.util.find_spec('torch_scatter') is not None else [])


@pytest.fixture(params=SCATTER_BACKENDS,
                ids=lambda on: 'torch_scatter' if on else 'no_torch_scatter')
def torch_scatter(request, monkeypatch):
    """Run a test with and without torch-scatter, as far as installed."""
    monkeypatch.setattr(torch_geometric.typing, 'WITH_TORCH_SCATTER',
                        request.param)
    return request.param

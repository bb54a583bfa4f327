"""The measuring helpers: memory method, timing summary, JSON reports."""
import json

import pytest
import torch

from benchmarks import _common as common


def test_peak_memory_sees_torch_allocations():
    # two live 4 MB tensors at the peak, freed before the call returns
    def fn():
        a = torch.empty(1_000_000)
        b = torch.empty(1_000_000)
        return float(a.numel() + b.numel())

    peak = common.peak_allocated_bytes(fn)
    assert 8_000_000 <= peak < 9_000_000


def test_peak_memory_counts_autograd_saved_tensors():
    w = torch.randn(256, 256, requires_grad=True)
    x = torch.randn(512, 256)

    def fwd():
        with torch.no_grad():
            return torch.tanh(x @ w).sum()

    def fwdbwd():
        torch.tanh(x @ w).sum().backward()
        w.grad = None

    assert common.peak_allocated_bytes(fwdbwd) > \
        common.peak_allocated_bytes(fwd)


def test_time_callable_summary():
    x = torch.randn(64, 64)
    t = common.time_callable(lambda: x @ x, threads=1, min_run_time=0.02,
                             min_samples=3, warmup=1)
    assert t.median > 0 and t.samples >= 1


def test_pin_threads():
    before = torch.get_num_threads()
    try:
        assert common.pin_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_atomic_json_strict(tmp_path):
    path = tmp_path / 'sub' / 'x.json'
    common.atomic_write_json(path, [{'a': float('nan'), 'b': 1.5, 'c': None}])
    assert json.loads(path.read_text()) == [{'a': None, 'b': 1.5, 'c': None}]
    assert [p.name for p in path.parent.iterdir()] == ['x.json']


def test_synthetic_prepared_dataset_feeds_the_loader():
    loader = pytest.importorskip('models.pose.data.loader')
    from benchmarks.model.loader import synthetic_prepared

    data = synthetic_prepared(num_subjects=2, sequences_per_subject=1,
                              frames=50, cameras=2)
    windows = loader.PoseWindows(data, subjects=data.train_subjects,
                                 joints=16, frames=9)
    assert len(windows) == 50 * 2
    inputs, targets = next(windows.iterate_batches(8, flip_augment=True))
    assert tuple(inputs.shape) == (8, 9, 16, 2)
    assert tuple(targets.shape) == (8, 16, 3)


def test_timing_records_contention():
    x = torch.randn(32, 32)
    t = common.time_callable(lambda: x @ x, threads=1, min_run_time=0.02,
                             min_samples=3, warmup=1, retries=0)
    assert isinstance(t.contended, bool)

"""``python -m benchmarks all --smoke`` end to end.

One subprocess run (module-scoped) feeds every structural check. ``--smoke``
runs every code path of every suite at tiny shapes with about 0.01 s per
timing, so it finishes in seconds however busy the machine is; the real
timing runs (``--quick`` and full) are not part of the test suite. Timings
are never asserted: they depend on the machine.
"""
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = {
    'flops': {'name', 'preset', 'joints', 'variant', 'params', 'macs_fvcore',
              'macs_analytic', 'flops_paper_convention'},
    'layer': {'name', 'case', 'fwd_ms', 'fwdbwd_ms', 'peak_mem_mb',
              'ratio_to_reference'},
    'model': {'name', 'preset', 'mode', 'batch', 'poses_per_s', 'efficiency',
              'gemm_gflops'},
}


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # one thread: two threads on a busy 2-core machine wait for each other
    # at every op (measured: 105 s instead of 33 s at a load of 7)
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks', 'all', '--smoke', '--out',
         str(out), '--threads', '1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def _load(out: Path, suite: str):
    path = out / f'{suite}.json'
    assert path.is_file(), f'{path} missing'
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize('suite', sorted(REQUIRED))
def test_json_records_have_required_keys(smoke_run, suite):
    out, _ = smoke_run
    records = _load(out, suite)
    assert isinstance(records, list) and records
    for record in records:
        assert isinstance(record, dict)
        missing = REQUIRED[suite] - set(record)
        assert not missing, (record.get('name'), missing)
        assert isinstance(record['name'], str) and record['name']


@pytest.mark.slow
@pytest.mark.parametrize('suite', sorted(REQUIRED))
def test_markdown_written(smoke_run, suite):
    out, _ = smoke_run
    text = (out / f'{suite}.md').read_text()
    assert text.startswith('# ')
    assert '| ---' in text or '|---|' in text
    assert 'thread' in text  # the thread count is stated
    assert '--smoke run' in text  # and that its timings mean nothing


@pytest.mark.slow
def test_no_temporary_files_left(smoke_run):
    out, _ = smoke_run
    leftovers = [p.name for p in out.iterdir() if p.name.endswith('.tmp')
                 or p.name.startswith('.')]
    assert not leftovers


@pytest.mark.slow
def test_flops_records_consistent(smoke_run):
    out, _ = smoke_run
    records = _load(out, 'flops')
    for r in records:
        assert isinstance(r['macs_fvcore'], int)
        assert r['macs_fvcore'] == r['macs_analytic'], r['name']
        assert r['params'] > 0
    t1 = next(r for r in records if r['preset'] == 'paper-t1' and
              r['joints'] == 16 and r['variant'] == 'wj')
    assert round(t1['flops_paper_convention'] / 1e6, 2) == 29.01
    assert 'Table 4' in (out / 'flops.md').read_text()


@pytest.mark.slow
def test_layer_records_well_formed(smoke_run):
    out, _ = smoke_run
    records = _load(out, 'layer')
    timed = [r for r in records if r['fwd_ms'] is not None]
    assert any(r['name'].startswith('reference') for r in timed)
    cases = {r['case'] for r in timed}
    assert any(c.startswith('skeleton') for c in cases)
    assert any(c.startswith('random graph') for c in cases)
    for r in timed:
        for key in ('fwd_ms', 'fwdbwd_ms', 'peak_mem_mb',
                    'ratio_to_reference'):
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key])
            assert r[key] >= 0
    names = {r['name'] for r in timed}
    for layer in ('GCNConv', 'DenseGCNConv', 'DenseWJConv'):
        assert any(n.startswith(layer) for n in names), layer
    assert any('GCN2Conv' in n for n in names)
    for layout in ('edge_index', 'CSR adj_t', 'EdgeIndex'):
        assert any('WJConv' in n and layout in n for n in names), layout
    assert any('torch_scatter' in r['name'] for r in records)
    assert (out / 'layer.png').is_file()


@pytest.mark.slow
def test_model_records_well_formed(smoke_run):
    out, _ = smoke_run
    records = _load(out, 'model')
    modes = {r['mode'] for r in records}
    assert {'gemm', 'eval-fp32', 'eval-bf16', 'train-fp32'} <= modes
    gemm = [r for r in records if r['mode'] == 'gemm']
    assert all(r['gemm_gflops'] > 0 for r in gemm)
    for r in records:
        if r['mode'].startswith(('eval', 'train')) and \
                r['mode'] != 'train-ceiling' and \
                r['poses_per_s'] is not None:
            assert r['poses_per_s'] > 0 and 0 < r['efficiency']
    # the training step beside the sum of its GEMMs timed alone, at the
    # training batch and the second one (8 and 16 in a smoke run)
    ceilings = {r['batch']: r for r in records
                if r['mode'] == 'train-ceiling'}
    assert sorted(ceilings) == [8, 16]
    layers = 1  # the tiny preset of a smoke run
    for batch, train_ceiling in ceilings.items():
        train_parts = [r for r in records if r['mode'] == 'train-part' and
                       r['batch'] == batch]
        assert len(train_parts) == 6
        step_ms = layers * sum(r['forward_ms'] + r['input_grad_ms'] +
                               r['weight_grad_ms'] for r in train_parts)
        assert train_ceiling['ceiling_step_ms'] == pytest.approx(step_ms)
        assert train_ceiling['poses_per_s'] == pytest.approx(
            batch / step_ms * 1e3)
    modes_by_batch = {8: ('train-fp32', 'train-fp32-plain',
                          'train-fp32-unblocked'),
                      16: ('train-fp32', 'train-fp32-unblocked')}
    for batch, train_modes in modes_by_batch.items():
        for mode in train_modes:
            (row, ) = [r for r in records if r['mode'] == mode and
                       r['batch'] == batch]
            assert row['share_of_parts_ceiling'] == pytest.approx(
                row['poses_per_s'] / ceilings[batch]['poses_per_s'])
    # batch-1 latency beside its arithmetic limit
    for r in records:
        if r['mode'].startswith('stream-') or (
                r['mode'] == 'eval-fp32' and r['batch'] == 1):
            assert r['arithmetic_limit_ms'] > 0
            assert r['times_arithmetic_limit'] == pytest.approx(
                r['median_ms'] / r['arithmetic_limit_ms'])
    assert 'Batch-1 latency beside its arithmetic limit' in \
        (out / 'model.md').read_text()
    assert 'Training step beside its parts ceiling' in \
        (out / 'model.md').read_text()
    assert 'eval-fp32-no-onednn' in modes
    # live-stream latency: one row per preset, p50 <= p99, in model.md
    for mode in ('stream-fp32', 'stream-onnxruntime'):
        (stream, ) = [r for r in records if r['mode'] == mode]
        assert 0 < stream['latency_p50_ms'] <= stream['latency_p99_ms']
        assert stream['poses_per_s'] == pytest.approx(
            1e3 / stream['latency_p50_ms'])
    assert 'Live streams' in (out / 'model.md').read_text()
    # every efficiency divides by the best GEMM rate, never below the
    # default F.linear rate it also reports
    for r in records:
        if 'efficiency_vs_default_gemm' in r:
            assert r['gemm_gflops'] >= r['gemm_default_gflops']
            assert r['efficiency'] <= r['efficiency_vs_default_gemm']
    # the ceiling from the parts: the block's 6 GEMMs and the graph GELUs,
    # and a sum that is consistent with them
    parts = [r for r in records if r['mode'] == 'part']
    assert len(parts) == 7 and all(r['fp32_rate'] > 0 and r['bf16_rate'] > 0
                                   for r in parts)
    (ceiling, ) = [r for r in records if r['mode'] == 'ceiling']
    # smoke timings are a few calls on tiny shapes, so the ceiling's
    # efficiency can land anywhere above 0 (2.0 was seen under load): only
    # its consistency is checked here, its value in full runs
    assert ceiling['efficiency'] > 0
    assert ceiling['bf16_speedup_ceiling'] == pytest.approx(
        ceiling['ceiling_ms_per_pose_fp32'] /
        ceiling['ceiling_ms_per_pose_bf16'])
    # the data loader is measured beside the training step
    loader = [r for r in records if r['mode'] == 'loader']
    assert loader
    assert all(r['poses_per_s'] > 0 and r['loader_over_train'] > 0
               for r in loader)
    # ONNX Runtime beside PyTorch at batch 1 and the throughput batch, or
    # its skipping stated with the extra to install
    ort = [r for r in records if r['mode'] == 'eval-onnxruntime']
    assert ort
    if all(importlib.util.find_spec(m) for m in ('onnx', 'onnxruntime')):
        assert len(ort) == 2 and ort[0]['batch'] == 1
        for r in ort:
            assert r['poses_per_s'] > 0 and r['ratio_to_pytorch_fp32'] > 0
            assert r['max_rel_diff_vs_eager'] <= 1e-4
        assert 'ONNX Runtime beside PyTorch' in (out / 'model.md').read_text()
    else:
        assert all('.[onnx]' in r['note'] for r in ort)
    # compile is measured or its skipping is stated
    assert 'eval-compile' in modes or any(
        'compile' in r['name'] and 'skipped' in r['name'] for r in records)


@pytest.mark.slow
def test_progress_printed(smoke_run):
    _, stdout = smoke_run
    for suite in REQUIRED:
        assert f'{suite}: done in' in stdout
    assert 'torch thread(s)' in stdout
    assert 'smoke run' in stdout


def test_cli_rejects_unknown_suite():
    proc = subprocess.run([sys.executable, '-m', 'benchmarks', 'nope'],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode != 0
    assert 'invalid choice' in proc.stderr


def test_cli_quick_and_smoke_exclusive(capsys):
    from benchmarks.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(['flops', '--quick', '--smoke'])
    assert exc.value.code == 2
    assert 'not allowed with' in capsys.readouterr().err


def test_missing_bench_extra_named(tmp_path, capsys, monkeypatch):
    """Without fvcore (the ``bench`` extra) the flops suite stops before
    doing anything, with one line naming the extra, and exit code 2."""
    from benchmarks.__main__ import main
    monkeypatch.setitem(sys.modules, 'fvcore', None)  # import fails
    for suite in ('flops', 'all'):
        assert main([suite, '--smoke', '--out', str(tmp_path / 'b')]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and 'fvcore' in err
        assert 'pip install -e ".[bench]"' in err
    assert not (tmp_path / 'b').exists()


BAD_ARGUMENTS = [
    ('--out naming a file', ['--out', '{file}'],
     r'^error: --out .*a_file: .*a_file is an existing file, not a '
     r'directory$'),
    ('--out under a file', ['--out', '{file}/results'],
     r'^error: --out .*a_file/results: .*a_file is a file, so '
     r'.*a_file/results cannot be created under it$'),
    ('--threads 100000', ['--threads', '100000'],
     r'^error: --threads 100000: expected 0 \(all logical CPUs\) or 1 to '
     r'\d+ \(4 x the \d+ logical CPUs of this machine\); give a --threads '
     r'in that range$'),
    ('--threads -1', ['--threads', '-1'], r'^error: --threads -1: expected'),
]


@pytest.mark.parametrize('name, extra, match', BAD_ARGUMENTS,
                         ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_arguments_give_one_line_and_exit_2(name, extra, match,
                                                tmp_path, capsys):
    """Refused before torch is imported or anything is written: one
    ``error:`` line, exit code 2, the file in the way untouched."""
    from benchmarks.__main__ import main
    (tmp_path / 'a_file').write_text('keep')
    argv = ['flops', '--smoke', '--out', str(tmp_path / 'b'),
            *[a.format(file=tmp_path / 'a_file') for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1, err
    assert re.search(match, err.strip()), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file']
    assert (tmp_path / 'a_file').read_text() == 'keep'


def test_threads_limit_is_four_per_cpu():
    from benchmarks.options import max_threads, threads_problem
    assert max_threads() == 4 * (os.cpu_count() or 1)
    assert threads_problem(0) is None and threads_problem(1) is None
    assert threads_problem(max_threads()) is None
    assert threads_problem(max_threads() + 1) is not None

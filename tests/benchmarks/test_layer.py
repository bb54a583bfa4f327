"""The layer suite's record type and the command line's options."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.layer.record import REFERENCE, LayerRecord
from benchmarks.options import RunOptions

ROOT = Path(__file__).resolve().parents[2]
MEASURED = {'name', 'case', 'fwd_ms', 'fwdbwd_ms', 'peak_mem_mb',
            'ratio_to_reference', 'fwd_ratio_to_reference', 'fwd_iqr_ms',
            'fwdbwd_iqr_ms', 'fwd_samples', 'fwdbwd_samples',
            'peak_mem_fwd_mb', 'layout', 'note', 'threads', 'macs_fwd',
            'fwd_gflops', 'contention'}


def test_record_json_keeps_the_keys_layer_json_always_had():
    measured = LayerRecord('GCNConv', 'c', fwd_ms=1.0, fwdbwd_ms=2.0,
                           layout='edge_index', threads=2)
    assert set(measured.to_json()) == MEASURED
    ref = dataclasses.replace(measured, name=REFERENCE,
                              reference_spread_fwdbwd_ms=[1.0, 2.0])
    assert set(ref.to_json()) == MEASURED | {'reference_spread_fwdbwd_ms'}
    failed = LayerRecord('WJConv', 'c', layout='CSR adj_t', threads=2,
                         note='failed: boom')
    assert set(failed.to_json()) == {
        'name', 'case', 'fwd_ms', 'fwdbwd_ms', 'peak_mem_mb',
        'ratio_to_reference', 'layout', 'note', 'threads'}
    note = LayerRecord('torch_scatter', 'c', layout=None, note='skipped')
    assert 'layout' not in note.to_json() and not note.measured


def test_run_options_are_frozen():
    opts = RunOptions(smoke=True, quick=True, threads=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.smoke = False


def test_help_does_not_import_torch():
    code = ('import sys\n'
            'from benchmarks.__main__ import build_parser\n'
            'build_parser()\n'
            'assert "torch" not in sys.modules, "torch imported"\n')
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))

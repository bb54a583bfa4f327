"""Leftovers of killed writes: a ``prepare-demo`` or ``evaluate`` killed
before its rename leaves ``.<name>.<random>.tmp`` beside the target; the
next run of the same target removes it (``atomic_write``) and writes a
good file."""
import json

import pytest

from models.pose.__main__ import main
from models.pose.data.format import load_prepared
from tests.models.pose.deploy._onnx_models import checkpoint_of, tiny_model


def _plant(directory, *names):
    """Temporaries as a killed writer of each target leaves them."""
    stale = [directory / f'.{name}.k1ll3d.tmp' for name in names]
    for path in stale:
        path.write_bytes(b'half a file')
    return stale


def test_prepare_demo_removes_a_killed_runs_temporary(tmp_path):
    pytest.importorskip('pybullet_data')
    out = tmp_path / 'demo.npz'
    stale = _plant(tmp_path, 'demo.npz')
    assert main(['prepare-demo', '--out', str(out)]) == 0
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demo.npz']
    assert load_prepared(out).meta['dataset'] == 'demo'


def test_evaluate_removes_a_killed_runs_temporaries(tmp_path,
                                                    prepared_file):
    pytest.importorskip('matplotlib')
    ckpt = checkpoint_of(tmp_path, tiny_model())
    out = tmp_path / 'eval'
    out.mkdir()
    names = ('metrics.json', 'metrics.md', 'pose_worst.png')
    stale = _plant(out, *names)
    assert main(['evaluate', '--checkpoint', str(ckpt), '--data',
                 str(prepared_file), '--out', str(out)]) == 0
    assert not any(p.exists() for p in stale)
    assert not [p.name for p in out.iterdir() if p.suffix == '.tmp']
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['average']['mpjpe'] > 0
    assert (out / 'pose_worst.png').read_bytes()[:4] == b'\x89PNG'


def test_evaluate_refuses_a_run_held_by_another_process(
        held_run, prepared_file):
    from models.common.files import OutputRefused
    from models.pose.evaluate.scoring import evaluate_checkpoint
    run, pid = held_run
    ckpt = checkpoint_of(run, tiny_model())  # run/best.pt, mid-training
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(OutputRefused, match=(
            rf'^--out {run} is inside {run}, a run directory in use by '
            rf'another run \(process {pid} holds {run}/\.lock\); wait for '
            rf'it to end or choose another --out$')):
        evaluate_checkpoint(ckpt, prepared_file, run, pictures=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_evaluate_inside_its_own_processes_lock(tmp_path, prepared_file):
    """The final evaluation of a training runs under that run's lock."""
    from models.common.files import RunDirectoryLock
    from models.pose.evaluate.scoring import evaluate_checkpoint
    run = tmp_path / 'run'
    with RunDirectoryLock(run):
        ckpt = checkpoint_of(run, tiny_model())
        evaluate_checkpoint(ckpt, prepared_file, run, pictures=False)
    assert (run / 'metrics.json').exists() and (run / 'metrics.md').exists()

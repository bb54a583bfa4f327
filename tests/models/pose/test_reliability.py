"""Faults a long training run meets: SIGKILL at every moment that could
lose or tear state (deterministically, through ``PYG_WJ_FAULT``; and once
at random moments), a dead DDP peer, and a diverging loss."""
import csv
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import models.common.faults as faults
import models.pose.train.loop as train_module
from models.pose.data.format import save_prepared
from models.pose.nn.checkpoint import load_checkpoint
from models.pose.nn.config import preset_config
from models.pose.train.loop import NonFiniteLossError, TrainConfig, train
from tests.models.pose.conftest import make_prepared

REPO = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
ENV.pop(faults.VARIABLE, None)
EPOCHS = 3


def train_command(data, out, *extra):
    """The CLI run every test below kills, resumes and compares: 11 steps
    per epoch, validated, so best.pt is chosen (every epoch improves)."""
    return [sys.executable, '-m', 'models.pose', 'train', '--preset', 'tiny',
            '--data', str(data), '--out', str(out), '--epochs', str(EPOCHS),
            '--batch-size', '16', '--seed', '3', '--val-fraction', '0.2',
            '--threads', '1', '--no-progress', '--no-evaluate', '--resume',
            *extra]


def run_cli(command, fault=None, check=True):
    env = dict(ENV, **({faults.VARIABLE: fault} if fault else {}))
    return subprocess.run(command, cwd=REPO, env=env, check=check,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('data') / 'data.npz'
    save_prepared(path, make_prepared())
    return path


@pytest.fixture(scope='module')
def reference(data_file, tmp_path_factory):
    """An unbroken run (saving never changes the numbers: one serves all)."""
    out = tmp_path_factory.mktemp('reference') / 'run'
    run_cli(train_command(data_file, out))
    return out


def logged_curve(out):
    """What log.csv says about every epoch, less the throughput (which
    depends on the machine): the curve a user plots."""
    with open(Path(out) / 'log.csv') as f:
        return [{k: v for k, v in row.items() if k != 'samples_per_s'}
                for row in csv.DictReader(f)]


def assert_same_run(out, reference):
    """Same log rows, the same loss at every step, the same weights in
    last.pt and best.pt (to the bit), nothing left half-written."""
    assert logged_curve(out) == logged_curve(reference)
    for name in ('last.pt', 'best.pt'):
        got, want = (load_checkpoint(Path(d) / name) for d in (out,
                                                                reference))
        assert got['epoch'] == want['epoch'], name
        assert torch.equal(got['step_losses'], want['step_losses']), name
        assert all(torch.equal(got['model'][k], want['model'][k])
                   for k in want['model']), name
    assert not list(Path(out).glob('.*.tmp'))


def assert_only_complete_files(out):
    """Every checkpoint present loads (a kill never leaves a torn one)."""
    for name in ('last.pt', 'best.pt'):
        if (Path(out) / name).exists():
            load_checkpoint(Path(out) / name)


# -- the fault points ---------------------------------------------------------

def test_fault_points_are_parsed_strictly_and_cost_nothing_unset(
        monkeypatch):
    kills = []
    monkeypatch.setattr(faults.os, 'kill', lambda pid, sig: kills.append(
        (pid, sig)))
    monkeypatch.setattr(faults, '_reached', {})
    monkeypatch.delenv(faults.VARIABLE, raising=False)
    faults.fault_point('after-last')  # unset: nothing
    assert faults.parse('after-last') == ('after-last', 1, None)
    assert faults.parse('ddp-barrier:2@1') == ('ddp-barrier', 2, 1)
    for bad, why in (('after-lst', "point 'after-lst' is not one of"),
                     ('after-log:0', "count '0' is not an integer >= 1"),
                     ('after-log@x', "rank 'x' is not an integer")):
        with pytest.raises(ValueError, match=f'PYG_WJ_FAULT=.*{why}'):
            faults.parse(bad)
    monkeypatch.setenv(faults.VARIABLE, 'after-log:2')
    faults.fault_point('after-last')  # another point: not counted
    faults.fault_point('after-log')
    assert kills == []
    faults.fault_point('after-log')  # the second time: killed
    assert kills == [(os.getpid(), signal.SIGKILL)]
    monkeypatch.setenv(faults.VARIABLE, 'after-best@1')
    monkeypatch.setenv('RANK', '0')
    faults.fault_point('after-best')  # another rank's fault
    assert len(kills) == 1


#: (PYG_WJ_FAULT, extra flags, the checkpoint left: (epoch, step)). Each
#: epoch writes best.pt, last.pt, log.csv in that order (3 atomic writes).
FAULTS = [
    ('after-best:2', (), (1, 0)),  # epoch 2's best.pt, not its last.pt
    ('after-last:3', (), (3, 0)),  # the last epoch's last.pt, not its row
    ('after-log:1', (), (1, 0)),  # a whole epoch, then death
    ('atomic-write:5', (), (1, 0)),  # the temporary file of epoch 2's
    # last.pt, complete, never renamed
    ('after-last:6', ('--save-every-steps', '3'), (1, 6)),  # mid-epoch 2
]


@pytest.mark.slow
@pytest.mark.parametrize('fault, extra, left', FAULTS,
                         ids=[f[0] for f in FAULTS])
def test_a_kill_at_each_fault_point_resumes_to_the_unbroken_run(
        tmp_path, data_file, reference, fault, extra, left):
    out = tmp_path / 'run'
    command = train_command(data_file, out, *extra)
    killed = run_cli(command, fault=fault, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_only_complete_files(out)
    state = load_checkpoint(out / 'last.pt')
    assert (state['epoch'], state['step_in_epoch']) == left
    leftovers = list(out.glob('.*.tmp'))
    assert [p.name.split('.')[1] for p in leftovers] == \
        (['last'] if fault.startswith('atomic-write') else [])
    resumed = run_cli(command)
    if leftovers:
        assert 'removed .last.pt.' in resumed.stdout
    assert_same_run(out, reference)


@pytest.mark.slow
def test_resuming_a_finished_run_whose_last_row_was_lost_completes_the_log(
        tmp_path, data_file, reference):
    """Issue 24: killed after the last epoch's last.pt, before its log row;
    the resumed run has no epoch left to run and still writes the row, to
    log.csv and to TensorBoard."""
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    out = tmp_path / 'run'
    command = train_command(data_file, out)
    run_cli(command, fault=f'after-last:{EPOCHS}', check=False)
    assert len(logged_curve(out)) == EPOCHS - 1
    run_cli(command)
    assert logged_curve(out) == logged_curve(reference)
    events = EventAccumulator(str(out / 'tensorboard'))
    events.Reload()
    scalars = events.Scalars('train_loss')  # the killed run's: hidden
    assert [e.step for e in scalars] == list(range(1, EPOCHS + 1))
    assert [e.value for e in scalars] == pytest.approx(
        [float(row['train_loss']) for row in logged_curve(reference)])


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_an_unbroken_run(
        tmp_path, data_file, reference):
    """An extra to the fault points: up to 8 SIGKILLs at random moments
    (seeded delays; where they land depends on the machine's speed, so
    nothing is asserted about that), a resume after each, then a run to
    the end. Whatever the timing, the run ends as the unbroken one."""
    out = tmp_path / 'killed'
    command = train_command(data_file, out, '--save-every-steps', '1')
    rng, kills = random.Random(0), 0
    for _ in range(8):
        proc = subprocess.Popen(command, cwd=REPO, env=ENV,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.2, 4.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        errors = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.returncode in (0, -signal.SIGKILL), errors
        assert_only_complete_files(out)
        if proc.returncode == 0:  # finished before the kill
            break
    print(f'{kills} SIGKILLs landed before the run finished')
    run_cli(command)  # to the end (a finished run: its log made whole)
    assert_same_run(out, reference)


# -- DDP ----------------------------------------------------------------------

def torchrun(*args):
    """torchrun on a free port (--standalone: a rendezvous on port 0)."""
    bindir = Path(sys.executable).parent
    return [str(bindir / 'torchrun'), '--standalone', '--nproc_per_node',
            '2', *args]


@pytest.mark.slow
def test_ddp_rank_death_ends_the_job_with_a_clear_message_and_resumes(
        tmp_path, data_file):
    """Rank 1 dies at the barrier after epoch 1 (rank 0 has saved it): the
    job ends instead of hanging, saying why, and resumes under torchrun to
    the unbroken 2-process run."""
    def command(out):
        return torchrun(
            '-m', 'models.pose', 'train', '--preset', 'tiny', '--data',
            str(data_file), '--out', str(out), '--epochs', '2',
            '--batch-size', '8', '--max-steps-per-epoch', '3', '--threads',
            '1', '--no-progress', '--no-evaluate', '--resume',
            '--ddp-timeout', '600')

    out = tmp_path / 'ddp'
    # a hang would last the 600 s of --ddp-timeout: run_cli's timeout
    # (also 600 s) would fail the test; a dead peer is seen at once
    killed = run_cli(command(out), fault='ddp-barrier@1', check=False)
    output = killed.stdout + killed.stderr
    assert killed.returncode != 0
    # torchrun names the dead rank; the surviving rank either says what
    # happened or, if torchrun's SIGTERM reaches it first, is stopped by it
    assert 'another process of this distributed job failed' in output or \
        'Signal 15 (SIGTERM)' in output, output
    assert 'Signal 9 (SIGKILL)' in output or 'exitcode  : -9' in output
    assert load_checkpoint(out / 'last.pt')['epoch'] == 1  # complete
    run_cli(command(out))
    unbroken = tmp_path / 'unbroken'
    run_cli(command(unbroken))
    assert logged_curve(out) == logged_curve(unbroken)
    a, b = (load_checkpoint(d / 'last.pt') for d in (out, unbroken))
    assert torch.equal(a['step_losses'], b['step_losses'])
    assert all(torch.equal(a['model'][k], b['model'][k]) for k in a['model'])


# -- numerics -----------------------------------------------------------------

def tiny_train(data, out, epochs, **kwargs):
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=3, **kwargs)
    return train(preset_config('tiny'), cfg, data, out, resume=True,
                 progress=False)


def test_one_non_finite_step_is_skipped(tmp_path, prepared_file,
                                        monkeypatch, capsys):
    real, calls = train_module.loss_eq11, [0]

    def nan_on_third_call(pred, target, lam):
        calls[0] += 1
        loss = real(pred, target, lam)
        return loss * float('nan') if calls[0] == 3 else loss

    clean = tiny_train(prepared_file, tmp_path / 'clean', epochs=1)
    monkeypatch.setattr(train_module, 'loss_eq11', nan_on_third_call)
    summary = tiny_train(prepared_file, tmp_path / 'nan', epochs=1)
    assert 'epoch 1 step 3: non-finite loss or gradient' in \
        capsys.readouterr().err
    losses = summary['step_losses']
    assert len(losses) == len(clean['step_losses']) - 1
    assert losses[:2] == clean['step_losses'][:2]
    assert all(map(torch.isfinite, torch.tensor(losses)))
    state = load_checkpoint(tmp_path / 'nan' / 'last.pt')
    assert all(torch.isfinite(v).all() for v in state['model'].values()
               if v.is_floating_point())


@pytest.mark.parametrize('bf16', [False, True])
def test_divergence_stops_without_touching_the_good_checkpoint(
        tmp_path, prepared_file, bf16, capsys):
    out = tmp_path / 'run'
    tiny_train(prepared_file, out, epochs=1, bf16=bf16)
    good = (out / 'last.pt').read_bytes()
    # a learning rate this large overflows the weights within a few steps
    with pytest.raises(NonFiniteLossError, match='The last good checkpoint'):
        tiny_train(prepared_file, out, epochs=3, bf16=bf16, lr=1e30,
                   max_bad_steps=3, save_every_steps=1)
    assert 'non-finite loss or gradient' in capsys.readouterr().err
    state = load_checkpoint(out / 'last.pt')  # refuses nothing: all finite
    assert all(torch.isfinite(v).all() for v in state['model'].values()
               if v.is_floating_point())
    if (out / 'last.pt').read_bytes() != good:
        # steps before the divergence may have been saved; all were finite
        assert state['epoch'] == 1 and state['step_in_epoch'] > 0

"""Faults a long training run meets: SIGKILL at any moment (also inside a
checkpoint write), a dead DDP peer, and a diverging loss."""
import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import models.pose.train.loop as train_module
from models.pose.nn.checkpoint import load_checkpoint
from models.pose.nn.config import preset_config
from models.pose.train.loop import NonFiniteLossError, TrainConfig, train

REPO = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))


def train_command(data, out, epochs=4):
    """The CLI run every test below kills, resumes and compares."""
    return [sys.executable, '-m', 'models.pose', 'train', '--preset', 'tiny',
            '--data', str(data), '--out', str(out), '--epochs', str(epochs),
            '--batch-size', '8', '--seed', '3', '--save-every-steps', '1',
            '--threads', '1', '--no-progress', '--resume']


def step_losses(out):
    state = load_checkpoint(Path(out) / 'last.pt')
    return state['step_losses'].tolist(), state['model']


def logged_curve(out):
    """What log.csv says about every epoch, less the throughput (which
    depends on the machine): the curve a user plots."""
    with open(Path(out) / 'log.csv') as f:
        return [{k: v for k, v in row.items() if k != 'samples_per_s'}
                for row in csv.DictReader(f)]


def assert_only_complete_files(out):
    """Every checkpoint present loads; no temporary file is left behind
    once a resumed run has started."""
    for name in ('last.pt', 'best.pt'):
        if (Path(out) / name).exists():
            load_checkpoint(Path(out) / name)


def _wait_for_a_new_checkpoint(path: Path, proc, timeout=120.0):
    """Return once ``path`` was replaced (one more training step saved) or
    ``proc`` ended."""
    def stamp():
        try:
            return path.stat().st_mtime_ns, path.stat().st_ino
        except FileNotFoundError:
            return None
    before, deadline = stamp(), time.monotonic() + timeout
    while stamp() == before and proc.poll() is None:
        assert time.monotonic() < deadline, 'no checkpoint was written'
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_an_unbroken_run(
        tmp_path, prepared_file):
    reference = tmp_path / 'reference'
    subprocess.run(train_command(prepared_file, reference), cwd=REPO,
                   env=ENV, check=True, capture_output=True, timeout=300)
    expected, expected_model = step_losses(reference)

    out = tmp_path / 'killed'
    rng = random.Random(0)
    kills = 0
    for _ in range(60):
        proc = subprocess.Popen(train_command(prepared_file, out), cwd=REPO,
                                env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if rng.random() < 0.2:  # sometimes while starting up or resuming
            time.sleep(rng.uniform(0.05, 2.0))
        else:  # mostly once training is under way, at a random phase
            # counted in saved steps, not seconds, so that the number of
            # restarts does not depend on the machine's speed
            for _ in range(rng.randint(4, 16)):
                _wait_for_a_new_checkpoint(out / 'last.pt', proc)
            time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is not None:  # finished before the kill
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills += 1
        assert_only_complete_files(out)
    else:
        pytest.fail('the killed run never finished')
    print(f'{kills} SIGKILLs before the run finished')
    assert kills >= 5, f'only {kills} kills landed while training ran'
    losses, model = step_losses(out)
    assert losses == expected  # bit-identical, step by step
    assert all(torch.equal(model[k], expected_model[k]) for k in model)
    assert not list(out.glob('.*.tmp'))
    # the logged curve too: each epoch's mean loss covers all its steps,
    # however many restarts happened inside the epoch
    assert logged_curve(out) == logged_curve(reference)


@pytest.mark.slow
def test_sigkill_inside_a_checkpoint_write(tmp_path, prepared_file):
    """The process dies after the temporary file is complete but before it
    replaces ``last.pt``: the old ``last.pt`` survives, the resumed run
    removes the leftover and ends where an unbroken run ends."""
    reference = tmp_path / 'reference'
    subprocess.run(train_command(prepared_file, reference, epochs=2),
                   cwd=REPO, env=ENV, check=True, capture_output=True,
                   timeout=300)
    out = tmp_path / 'run'
    die_in_write = (
        'import os, signal, sys, runpy\n'
        'real, calls = os.replace, [0]\n'
        'def replace(src, dst):\n'
        '    calls[0] += 1\n'
        '    if calls[0] == 17 and str(dst).endswith("last.pt"):\n'
        '        os.kill(os.getpid(), signal.SIGKILL)\n'
        '    return real(src, dst)\n'
        'os.replace = replace\n'
        'sys.argv = ["models.pose"] + sys.argv[1:]\n'
        'runpy.run_module("models.pose", run_name="__main__")\n')
    command = train_command(prepared_file, out, epochs=2)
    killed = subprocess.run([sys.executable, '-c', die_in_write,
                             *command[3:]], cwd=REPO, env=ENV,
                            capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    leftovers = list(out.glob('.last.pt.*.tmp'))
    assert len(leftovers) == 1
    # the completed temporary file never replaced last.pt: the previous
    # checkpoint is intact and one step behind
    state = load_checkpoint(out / 'last.pt')
    assert load_checkpoint(leftovers[0])['step_losses'].numel() == \
        state['step_losses'].numel() + 1
    resumed = subprocess.run(command, cwd=REPO, env=ENV, check=True,
                             capture_output=True, text=True, timeout=300)
    assert 'removed .last.pt.' in resumed.stdout
    assert not list(out.glob('.*.tmp'))
    assert step_losses(out)[0] == step_losses(reference)[0]
    assert logged_curve(out) == logged_curve(reference)


def _worker_pids(parent: int):
    """Children of ``parent`` with their RANK (Linux /proc)."""
    found = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
            ppid = int(stat.rsplit(')', 1)[1].split()[1])
            if ppid != parent:
                continue
            env = (entry / 'environ').read_bytes().split(b'\0')
        except (OSError, ValueError, IndexError):
            continue
        for item in env:
            if item.startswith(b'RANK='):
                found[int(item[5:])] = int(entry.name)
    return found


@pytest.mark.slow
def test_ddp_rank_death_ends_the_job_with_a_clear_message(tmp_path,
                                                         prepared_file):
    bindir = Path(sys.executable).parent
    out = tmp_path / 'ddp'
    command = [str(bindir / 'torchrun'), '--nproc_per_node', '2',
               '--master_port', '29531', '-m', 'models.pose', 'train',
               '--preset', 'tiny', '--data', str(prepared_file), '--out',
               str(out), '--epochs', '500', '--batch-size', '8',
               '--save-every-steps', '5', '--threads', '1', '--no-progress',
               '--ddp-timeout', '60']
    proc = subprocess.Popen(command, cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / 'last.pt').exists():  # wait until training runs
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        workers = _worker_pids(proc.pid)
        assert set(workers) == {0, 1}
        t_kill = time.monotonic()
        os.kill(workers[1], signal.SIGKILL)
        output, _ = proc.communicate(timeout=120)  # no hang
        ended_after = time.monotonic() - t_kill
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert ended_after < 60
    # torchrun names the dead rank; the surviving rank either says what
    # happened or, if torchrun's SIGTERM reaches it first, is stopped by it
    assert 'another process of this distributed job failed' in output or \
        'Signal 15 (SIGTERM)' in output
    assert 'Signal 9 (SIGKILL)' in output or 'exitcode  : -9' in output
    load_checkpoint(out / 'last.pt')  # still complete


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

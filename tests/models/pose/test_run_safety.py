"""Issue 14 (reliability, round two): run directories and their lock, exit
codes after a signal, exact epoch logs after a mid-epoch resume, non-finite
weights, checkpoint digests, OS errors and keypoint files. Each test failed
before its fix; the table-driven cases are in ``tests/test_bad_inputs.py``."""
import csv
import errno
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import models.pose.train.loop as train_module
from models.common.files import (
    RunDirectoryBusy,
    RunDirectoryLock,
    atomic_write,
)
from models.pose.__main__ import main as cli
from models.pose.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    state_digest,
)
from models.pose.nn.config import preset_config
from models.pose.train.loop import NonFiniteLossError, TrainConfig, train

REPO = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))


def tiny(data, out, epochs=1, resume=False, overwrite=False, **kwargs):
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=3, **kwargs)
    return train(preset_config('tiny'), cfg, data, out, resume=resume,
                 overwrite=overwrite, progress=False)


def train_argv(data, out, *extra):
    return ['train', '--preset', 'tiny', '--data', str(data), '--out',
            str(out), '--batch-size', '16', '--epochs', '1',
            '--max-steps-per-epoch', '2', '--no-progress', '--no-evaluate',
            *extra]


def log_column(out, name):
    with open(Path(out) / 'log.csv') as f:
        return [float(row[name]) for row in csv.DictReader(f)]


# -- 1. no silent overwrite; one run per directory ---------------------------

def test_a_finished_run_is_not_overwritten(tmp_path, prepared_file, capsys):
    out = tmp_path / 'run'
    assert cli(train_argv(prepared_file, out)) == 0
    before = {n: (out / n).read_bytes() for n in ('last.pt', 'best.pt',
                                                  'log.csv')}
    assert cli(train_argv(prepared_file, out, '--seed', '7')) == 2
    err = capsys.readouterr().err
    assert 'is not empty' in err and '--resume' in err and '--overwrite' \
        in err
    assert {n: (out / n).read_bytes() for n in before} == before
    # --overwrite replaces the run, and says what it removed
    assert cli(train_argv(prepared_file, out, '--seed', '7',
                          '--overwrite')) == 0
    printed = capsys.readouterr().out
    assert '--overwrite: removed' in printed and 'best.pt' in printed
    assert (out / 'best.pt').read_bytes() != before['best.pt']
    assert len(log_column(out, 'epoch')) == 1


@pytest.mark.parametrize('mode', ['--overwrite', '--resume'])
@pytest.mark.parametrize('linked', ['tensorboard', 'log.csv'])
def test_a_linked_output_in_the_run_is_refused_and_the_run_kept(
        tmp_path, prepared_file, capsys, mode, linked):
    """--overwrite once deleted the old run and then failed on a symlinked
    tensorboard/, leaving neither run: a link the run would write through
    is refused before anything is removed, and every file stays."""
    out = tmp_path / 'run'
    assert cli(train_argv(prepared_file, out)) == 0
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    target = out / linked
    if target.is_dir():
        target.rename(elsewhere / linked)
    else:
        target.replace(elsewhere / linked)
    target.symlink_to(elsewhere / linked)
    before = {p.relative_to(tmp_path): p.read_bytes()
              for p in sorted(tmp_path.rglob('*')) if p.is_file()}
    capsys.readouterr()
    assert cli(train_argv(prepared_file, out, mode)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'error: --out {out}: ')
    assert f'{linked} in it is a symbolic link' in err[0]
    assert target.is_symlink()
    assert {p.relative_to(tmp_path): p.read_bytes()
            for p in sorted(tmp_path.rglob('*')) if p.is_file()} == before


def test_a_second_run_into_a_locked_directory_fails_at_once(
        tmp_path, prepared_file, capsys):
    out = tmp_path / 'run'
    out.mkdir()
    # another live run: it holds the lock and is writing a checkpoint
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import fcntl, os, sys, time\n'
         'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
         'fcntl.flock(fd, fcntl.LOCK_EX)\n'
         'os.write(fd, str(os.getpid()).encode())\n'
         'print("locked", flush=True)\n'
         'time.sleep(600)\n', str(out / '.lock')],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        in_flight = out / '.last.pt.abc123.tmp'
        in_flight.write_bytes(b'being written by the other run')
        t0 = time.monotonic()
        assert cli(train_argv(prepared_file, out, '--resume')) == 2
        # at once: a waiting run would wait for the holder's 600 s (the
        # bound is loose for a loaded machine; a refusal takes a second)
        assert time.monotonic() - t0 < 300
        err = capsys.readouterr().err
        assert f'is in use by another run (process {holder.pid} holds' in err
        assert in_flight.exists()  # its temporary file was not cleaned up
        with pytest.raises(RunDirectoryBusy):
            with RunDirectoryLock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the kernel dropped the dead holder's lock: a resume now runs, and
    # removes the leftover as the stale temporary it has become
    assert cli(train_argv(prepared_file, out, '--resume')) == 0
    assert not in_flight.exists()


def test_resume_into_a_run_without_last_pt_is_refused(tmp_path,
                                                      prepared_file, capsys):
    out = tmp_path / 'run'
    assert cli(train_argv(prepared_file, out)) == 0
    (out / 'last.pt').unlink()
    best = (out / 'best.pt').read_bytes()
    assert cli(train_argv(prepared_file, out, '--resume')) == 2
    assert 'but no last.pt to resume from' in capsys.readouterr().err
    assert (out / 'best.pt').read_bytes() == best


# -- 2. a run that cannot take a step is an error ----------------------------

def test_zero_is_a_value_not_the_default(tmp_path, prepared_file, capsys):
    for flag in ('--epochs', '--batch-size'):
        argv = train_argv(prepared_file, tmp_path / flag)
        argv[argv.index(flag) + 1] = '0'
        assert cli(argv) == 2
        assert f'{flag} (' in capsys.readouterr().err
        assert not (tmp_path / flag / 'last.pt').exists()
    with pytest.raises(ValueError, match='larger than the 220 training '
                       'windows'):
        train(preset_config('tiny'), TrainConfig(epochs=1, batch_size=221),
              prepared_file, tmp_path / 'big', progress=False)
    assert not (tmp_path / 'big' / 'best.pt').exists()


# -- 3. exact epoch logs after a mid-epoch resume ----------------------------

def _stop_after(checks, signal_name='SIGTERM'):
    class Stop(train_module.StopSignals):
        count = 0

        @property
        def requested(self):
            Stop.count += 1
            return signal_name if Stop.count >= checks else None

        @requested.setter
        def requested(self, value):
            pass
    return Stop


def test_mid_epoch_resume_logs_the_true_epoch_mean(tmp_path, prepared_file,
                                                   monkeypatch, capsys):
    full = tiny(prepared_file, tmp_path / 'full', epochs=2)
    # 13 steps per epoch: stop during the 5th step of epoch 2
    monkeypatch.setattr(train_module, 'StopSignals', _stop_after(13 + 5))
    stopped = tiny(prepared_file, tmp_path / 'cut', epochs=2, resume=True)
    monkeypatch.undo()
    assert stopped['stopped'] == 'SIGTERM'
    state = load_checkpoint(tmp_path / 'cut' / 'last.pt')
    assert (state['epoch'], state['step_in_epoch']) == (1, 5)
    assert state['epoch_stats']['loss_count'] == 5
    capsys.readouterr()
    resumed = tiny(prepared_file, tmp_path / 'cut', epochs=2, resume=True)
    assert resumed['step_losses'] == full['step_losses']
    keys = [k for k in full['history'][0] if k != 'samples_per_s']
    assert 'train_loss' in keys
    for key in keys:
        assert [r[key] for r in resumed['history']] == \
            [r[key] for r in full['history']], key  # exact
        assert log_column(tmp_path / 'cut', key) == \
            log_column(tmp_path / 'full', key)
    printed = capsys.readouterr().out
    assert f"epoch 2/2: loss {full['history'][1]['train_loss']:.5f}" in \
        printed
    # the epoch's mean covers all 13 steps, not the 8 after the restart
    assert full['history'][1]['train_loss'] == pytest.approx(
        sum(full['step_losses'][13:26]) / 13, rel=1e-12)


# -- 4 and 8. non-finite weights ---------------------------------------------

def test_weights_overflowing_late_in_an_epoch_stop_cleanly(
        tmp_path, prepared_file, monkeypatch):
    real_step, calls = torch.optim.Adam.step, [0]

    def step(self, closure=None):
        result = real_step(self, closure)
        calls[0] += 1
        if calls[0] == 13:  # the epoch's last step: too late to be skipped
            with torch.no_grad():
                self.param_groups[0]['params'][0].fill_(float('inf'))
        return result

    monkeypatch.setattr(torch.optim.Adam, 'step', step)
    with pytest.raises(NonFiniteLossError,
                       match=r"epoch 1: the weights became non-finite "
                       r"\('embedding.weight' holds NaN or inf.*No "
                       r"checkpoint was written"):
        tiny(prepared_file, tmp_path / 'run')
    assert not (tmp_path / 'run' / 'last.pt').exists()


def test_divergence_message_names_the_checkpoint_on_disk(
        tmp_path, prepared_file):
    out = tmp_path / 'run'
    tiny(prepared_file, out, epochs=1)
    with pytest.raises(NonFiniteLossError,
                       match=r'The last good checkpoint, .*last.pt \(end of '
                       r'epoch 1\), was not touched'):
        tiny(prepared_file, out, epochs=3, resume=True, lr=1e30,
             max_bad_steps=3)


def _rewrite(src, dst, change):
    state = torch.load(src, weights_only=True)
    change(state)
    state['digest'] = state_digest(state)
    torch.save(state, dst)


def test_resuming_nan_weights_does_not_call_them_good(tmp_path,
                                                      prepared_file, capsys):
    out = tmp_path / 'run'
    assert cli(train_argv(prepared_file, out)) == 0
    _rewrite(out / 'last.pt', out / 'last.pt',
             lambda s: s['model']['head.bias'].fill_(float('nan')))
    assert cli(train_argv(prepared_file, out, '--resume', '--epochs',
                          '2')) == 2
    err = capsys.readouterr().err
    assert "'model.head.bias' holds NaN or inf" in err
    assert 'was not touched' not in err and 'Traceback' not in err


# -- 5. digests ---------------------------------------------------------------

def test_checkpoints_carry_a_digest_and_old_ones_load_with_a_warning(
        tmp_path, prepared_file):
    out = tmp_path / 'run'
    tiny(prepared_file, out, max_steps_per_epoch=1)
    state = load_checkpoint(out / 'last.pt')
    assert state['digest'] == state_digest(state)
    # any change to a value, a name or a dtype changes the digest
    for change in (lambda s: s['model']['head.bias'].add_(1e-7),
                   lambda s: s.update(epoch=s['epoch'] + 1),
                   lambda s: s['model'].update(
                       head_bias=s['model'].pop('head.bias')),
                   lambda s: s['model'].update(
                       {'head.bias': s['model']['head.bias'].double()})):
        copy = load_checkpoint(out / 'last.pt')
        change(copy)
        assert state_digest(copy) != state['digest']
    old = tmp_path / 'old.pt'
    legacy = torch.load(out / 'last.pt', weights_only=True)
    del legacy['digest']
    torch.save(legacy, old)
    with pytest.warns(UserWarning, match='has no digest'):
        load_checkpoint(old)


# -- 6. OS errors ------------------------------------------------------------

def test_disk_full_is_one_line_and_keeps_last_pt(tmp_path, prepared_file,
                                                 monkeypatch, capsys):
    out = tmp_path / 'run'
    assert cli(train_argv(prepared_file, out)) == 0
    good, best = ((out / name).read_bytes() for name in ('last.pt',
                                                          'best.pt'))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full)
    assert cli(train_argv(prepared_file, out, '--resume', '--epochs',
                          '2')) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the epoch's first write is best.pt (before last.pt, see the loop)
    assert err[-1].startswith(f'error: cannot write {out / "best.pt"}: no '
                              f'space left on device (errno 28')
    assert 'previous file is intact' in err[-1]
    assert 'Traceback' not in '\n'.join(err)
    assert (out / 'last.pt').read_bytes() == good
    assert (out / 'best.pt').read_bytes() == best
    assert not list(out.glob('.*.tmp'))


def test_atomic_write_names_the_path_under_a_file(tmp_path):
    (tmp_path / 'f').write_text('x')
    with pytest.raises(NotADirectoryError,
                       match=r'cannot write .*f/sub/x.txt: .*f is a file'):
        atomic_write(tmp_path / 'f' / 'sub' / 'x.txt', b'data')


# -- 9. signals: saved, then a non-zero exit ----------------------------------

@pytest.mark.parametrize('signal_name, code', [('SIGTERM', 143),
                                               ('SIGINT', 130)])
def test_a_stopped_run_exits_with_128_plus_the_signal(
        tmp_path, prepared_file, monkeypatch, capsys, signal_name, code):
    monkeypatch.setattr(train_module, 'StopSignals',
                        _stop_after(3, signal_name))
    out = tmp_path / 'run'
    argv = train_argv(prepared_file, out)
    argv[argv.index('--max-steps-per-epoch') + 1] = '0'
    assert cli(argv) == code
    assert f'{signal_name}: saved' in capsys.readouterr().out
    assert load_checkpoint(out / 'last.pt')['step_in_epoch'] == 3


@pytest.mark.slow
def test_sigterm_to_the_process_exits_143_after_saving(tmp_path,
                                                       prepared_file):
    out = tmp_path / 'run'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'models.pose', 'train', '--preset', 'tiny',
         '--data', str(prepared_file), '--out', str(out), '--epochs', '500',
         '--batch-size', '8', '--save-every-steps', '1', '--threads', '1',
         '--no-progress'], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600  # loose: a loaded machine
    while not (out / 'last.pt').exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 143, stderr
    assert 'SIGTERM: saved' in stdout
    load_checkpoint(out / 'last.pt')


# -- 10. keypoint files: tests/models/pose/infer/formats/test_project.py ------

def test_a_huge_config_is_refused_before_anything_is_allocated(
        tmp_path, prepared_file):
    out = tmp_path / 'run'
    tiny(prepared_file, out, max_steps_per_epoch=1)
    huge = tmp_path / 'huge.pt'
    _rewrite(out / 'last.pt', huge,
             lambda s: s['model_config'].update(channels=8192, hidden=32768,
                                                layers=64))
    from models.pose.nn.checkpoint import load_for_inference
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="missing|shape"):
        load_for_inference(huge)  # the shapes differ: checked on 'meta'
    assert time.perf_counter() - t0 < 120  # loose: tens of GB otherwise
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load_for_inference(out / 'last.pt')  # a good one: no warning

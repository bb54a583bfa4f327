"""TrainState: the checkpoint keys beside model and optimizer, unchanged on
disk; checkpoints in that layout (and older ones) resume."""
import pytest
import torch

import models.pose.train.loop as train_module
from models.pose.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    state_digest,
)
from models.pose.nn.config import preset_config
from models.pose.train.config import TrainConfig
from models.pose.train.loop import train
from models.pose.train.state import STAT_KEYS, TrainState

#: every key of a checkpoint as the code before TrainState wrote it,
#: spelled out here (not taken from the code) so that a change shows
LAYOUT = {'format', 'version', 'digest', 'model', 'model_config',
          'train_config', 'optimizer', 'scheduler', 'rng_cpu', 'epoch',
          'step_in_epoch', 'best_mpjpe', 'history', 'epoch_stats',
          'data_fingerprint', 'data', 'step_losses'}
STATS_LAYOUT = {'loss_count', 'samples', 'train_s', 'bad_steps'}
#: keys added since, each optional when read (older files lack them)
ADDED = {'data_fps'}  # the training data's frame rate, for infer


def tiny_run(data, out, epochs, resume=False):
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=3)
    return train(preset_config('tiny'), cfg, data, out, resume=resume,
                 progress=False)


def stop_mid_epoch(monkeypatch, data, out, after):
    """A run stopped (as by SIGTERM) after ``after`` good steps."""
    class Stop(train_module.StopSignals):
        count = 0

        @property
        def requested(self):
            Stop.count += 1
            return 'SIGTERM' if Stop.count >= after else None

        @requested.setter
        def requested(self, value):
            pass

    monkeypatch.setattr(train_module, 'StopSignals', Stop)
    assert tiny_run(data, out, epochs=2)['stopped'] == 'SIGTERM'
    monkeypatch.undo()


def test_the_key_layout_on_disk_is_unchanged(tmp_path, prepared_file,
                                             monkeypatch):
    assert set(STAT_KEYS) == STATS_LAYOUT
    stop_mid_epoch(monkeypatch, prepared_file, tmp_path / 'run', 13 + 4)
    state = load_checkpoint(tmp_path / 'run' / 'last.pt')
    assert set(state) == LAYOUT | ADDED
    assert state['data_fps'] == 50.0  # the fixture's meta fps
    assert set(state['epoch_stats']) == STATS_LAYOUT
    assert (state['epoch'], state['step_in_epoch']) == (1, 4)
    assert state['step_losses'].dtype == torch.float64
    end = tiny_run(prepared_file, tmp_path / 'end', epochs=1)
    state = load_checkpoint(tmp_path / 'end' / 'last.pt')
    assert set(state) == LAYOUT | ADDED and state['epoch_stats'] == {}
    assert state['history'] == end['history']


def _write_as_before(state, path, keys=LAYOUT):
    """A checkpoint file with exactly ``keys``, written the way the code
    before TrainState did (torch.save of a plain dict with its digest),
    without any of today's writing code."""
    legacy = {k: state[k] for k in keys if k != 'digest'}
    legacy['digest'] = state_digest(legacy)
    torch.save(legacy, path)


@pytest.mark.parametrize('stats', ['kept', 'absent'])
def test_a_checkpoint_in_todays_layout_resumes_bit_identically(
        tmp_path, prepared_file, monkeypatch, stats):
    """Mid-epoch, with its epoch statistics, and as written before they
    existed (then the epoch's mean falls back to its last losses)."""
    full = tiny_run(prepared_file, tmp_path / 'full', epochs=2)
    out = tmp_path / 'cut'
    stop_mid_epoch(monkeypatch, prepared_file, out, 13 + 5)
    state = load_checkpoint(out / 'last.pt')
    keys = LAYOUT - {'epoch_stats'} if stats == 'absent' else LAYOUT
    _write_as_before(state, out / 'last.pt', keys)
    resumed = tiny_run(prepared_file, out, epochs=2, resume=True)
    assert resumed['step_losses'] == full['step_losses']
    assert [r['train_loss'] for r in resumed['history']] == \
        [r['train_loss'] for r in full['history']]
    a, b = (load_checkpoint(d / 'last.pt') for d in (out, tmp_path / 'full'))
    assert all(torch.equal(a['model'][k], b['model'][k]) for k in a['model'])


def test_from_checkpoint_round_trips_and_refuses_naming_the_key(tmp_path):
    state = TrainState({'lr': 1e-3}, 'data.npz', 'ab' * 32, epoch=2, step=3,
                       best_mpjpe=50.0, history=[{'epoch': 1}, {'epoch': 2}],
                       step_losses=[0.5, 0.4, 0.3, 0.2])
    stats = state.start_epoch()
    stats.losses, stats.samples, state.bad_steps = [0.3, 0.2], 32, 1
    saved = {'optimizer': {}, 'scheduler': {}, **state.to_checkpoint()}
    assert saved['epoch_stats']['loss_count'] == 2
    back = TrainState.from_checkpoint(saved, tmp_path / 'last.pt')
    assert (back.epoch, back.step, back.best_mpjpe) == (2, 3, 50.0)
    assert back.history == state.history
    assert back.step_losses == state.step_losses
    assert back.running.losses == [0.3, 0.2] and back.running.samples == 32
    assert back.bad_steps == 1 and back.last_saved == {'epoch': 2, 'step': 3}
    changed = back.continue_as({'lr': 1e-4}, 'data.npz', 'ab' * 32)
    assert changed == {'lr': 1e-3}
    for key, value, message in (
            ('history', None, "lacks the key 'history'"),
            ('epoch', '2', "key 'epoch' is a str, expected int"),
            ('step_in_epoch', -1, "'step_in_epoch' is -1, expected >= 0"),
            ('epoch_stats', {'loss_count': 9}, "'epoch_stats' is malformed")):
        bad = dict(saved)
        if value is None:
            del bad[key]
        else:
            bad[key] = value
        with pytest.raises(CheckpointError, match=message):
            TrainState.from_checkpoint(bad, tmp_path / 'last.pt')
    with pytest.raises(CheckpointError, match='was trained on other data'):
        back.check_data('other.npz', 'cd' * 32, tmp_path / 'last.pt')

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.pose.evaluate.scoring import evaluate_checkpoint
from models.pose.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_for_inference,
    save_checkpoint,
)
from models.pose.nn.config import preset_config
from models.pose.nn.model import MLPGraphWJ
from models.pose.train.config import lr_factor
from models.pose.train.loop import TrainConfig, train

REPO = Path(__file__).resolve().parents[4]


def tiny_run(data, out, epochs, resume=False, **kwargs):
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=3, **kwargs)
    return train(preset_config('tiny'), cfg, data, out, resume=resume,
                 progress=False)


def test_validation_split_chooses_best_and_never_reads_the_test_subjects(
        tmp_path, prepared_file, monkeypatch):
    import models.pose.data.loader as loader
    seen_subjects = []
    original = loader.PoseWindows.__init__

    def spy(self, data, *args, subjects=None, **kwargs):
        seen_subjects.append(tuple(subjects or ()))
        original(self, data, *args, subjects=subjects, **kwargs)

    monkeypatch.setattr(loader.PoseWindows, '__init__', spy)
    out = tmp_path / 'run'
    summary = tiny_run(prepared_file, out, epochs=3, val_fraction=0.2)
    assert seen_subjects and all('S9' not in s for s in seen_subjects)
    header = (out / 'log.csv').read_text().splitlines()[0].split(',')
    assert 'val_mpjpe_mm' in header and 'test_mpjpe_mm' not in header
    val = [row['val_mpjpe_mm'] for row in summary['history']]
    best_epoch = load_checkpoint(out / 'best.pt')['epoch']
    assert best_epoch == 1 + min(range(len(val)), key=val.__getitem__)
    assert summary['best_mpjpe'] == min(val)


def test_without_validation_best_is_the_last_epoch(tmp_path, prepared_file):
    out = tmp_path / 'run'
    tiny_run(prepared_file, out, epochs=2)
    best, last = (load_checkpoint(out / name) for name in ('best.pt',
                                                           'last.pt'))
    assert best['epoch'] == last['epoch'] == 2
    assert all(torch.equal(best['model'][k], last['model'][k])
               for k in last['model'])


def test_resume_continues_bit_identically(tmp_path, prepared_file):
    full = tiny_run(prepared_file, tmp_path / 'full', epochs=3)
    tiny_run(prepared_file, tmp_path / 'cut', epochs=2)
    resumed = tiny_run(prepared_file, tmp_path / 'cut', epochs=3,
                       resume=True)
    assert len(full['step_losses']) == len(resumed['step_losses']) > 10
    assert full['step_losses'] == resumed['step_losses']  # exact
    a = load_checkpoint(tmp_path / 'full' / 'last.pt')['model']
    b = load_checkpoint(tmp_path / 'cut' / 'last.pt')['model']
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / 'cut' / 'log.csv').read_text().splitlines()
    assert len(log) == 4 and log[0].startswith('epoch,train_loss')


def test_the_augmentation_flag_reaches_the_batches(tmp_path, prepared_file,
                                                   monkeypatch):
    import models.pose.data.loader as loader
    from models.pose.data.augment import GeometricAugment
    seen = []
    original = loader.PoseWindows.iterate_batches

    def spy(self, *args, augment=None, **kwargs):
        seen.append(augment)
        return original(self, *args, augment=augment, **kwargs)

    monkeypatch.setattr(loader.PoseWindows, 'iterate_batches', spy)
    tiny_run(prepared_file, tmp_path / 'on', epochs=1, augment=True,
             augment_bone_scale=0.2)
    tiny_run(prepared_file, tmp_path / 'off', epochs=1)
    # the real cameras' ranges (the defaults), the flag's bone range and
    # the 'gt' source's noise (none)
    assert seen == [GeometricAugment(bone_scale=(0.8, 1.2)), None]
    saved = load_checkpoint(tmp_path / 'on' / 'last.pt')['train_config']
    assert saved['augment'] is True and saved['augment_bone_scale'] == 0.2


def test_the_noisy_source_trains_on_noisy_virtual_views():
    from types import SimpleNamespace

    from models.pose.train.windows import augmentation
    data = SimpleNamespace(meta={'provenance': {'noise_px': 2.5}})
    cfg = TrainConfig(augment=True, source='noisy')
    assert augmentation(cfg, data).noise_px == 2.5
    assert augmentation(TrainConfig(augment=True), data).noise_px == 0.0
    assert augmentation(TrainConfig(source='noisy'), data) is None


def test_resume_with_augmentation_continues_bit_identically(
        tmp_path, prepared_file):
    on = dict(augment=True)
    full = tiny_run(prepared_file, tmp_path / 'full', epochs=3, **on)
    tiny_run(prepared_file, tmp_path / 'cut', epochs=2, **on)
    resumed = tiny_run(prepared_file, tmp_path / 'cut', epochs=3,
                       resume=True, **on)
    assert full['step_losses'] == resumed['step_losses']  # exact
    plain = tiny_run(prepared_file, tmp_path / 'plain', epochs=3)
    assert plain['step_losses'] != full['step_losses']  # it did augment
    a = load_checkpoint(tmp_path / 'full' / 'last.pt')['model']
    b = load_checkpoint(tmp_path / 'cut' / 'last.pt')['model']
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_a_new_learning_rate_uses_it(tmp_path, prepared_file):
    out = tmp_path / 'run'
    tiny_run(prepared_file, out, epochs=1, lr_epoch_min_steps=0)
    tiny_run(prepared_file, out, epochs=2, resume=True, lr=1e-5,
             lr_epoch_min_steps=0)
    state = load_checkpoint(out / 'last.pt')
    cfg = TrainConfig(lr=1e-5)
    # the saved optimizer and scheduler carried the old lr; the new one won
    assert state['scheduler']['base_lrs'] == [1e-5]
    assert state['optimizer']['param_groups'][0]['lr'] == \
        pytest.approx(1e-5 * lr_factor(2, cfg))

def test_sigterm_saves_and_resumes_inside_an_epoch(tmp_path, prepared_file,
                                                   monkeypatch):
    import models.pose.train.loop as train_module
    full = tiny_run(prepared_file, tmp_path / 'full', epochs=2)

    class StopAfterFiveSteps(train_module.StopSignals):
        """Acts as if SIGTERM arrived during the 5th step of epoch 2."""
        checks = 0

        @property
        def requested(self):
            StopAfterFiveSteps.checks += 1
            return 'SIGTERM' if StopAfterFiveSteps.checks >= 13 + 5 else None

        @requested.setter
        def requested(self, value):
            pass

    monkeypatch.setattr(train_module, 'StopSignals', StopAfterFiveSteps)
    stopped = tiny_run(prepared_file, tmp_path / 'cut', epochs=2)
    monkeypatch.undo()
    assert stopped['stopped'] == 'SIGTERM'
    state = load_checkpoint(tmp_path / 'cut' / 'last.pt')
    assert (state['epoch'], state['step_in_epoch']) == (1, 5)
    resumed = tiny_run(prepared_file, tmp_path / 'cut', epochs=2,
                       resume=True)
    assert resumed['step_losses'] == full['step_losses']


def test_evaluate_and_infer_from_checkpoint(tmp_path, prepared_file):
    tiny_run(prepared_file, tmp_path / 'run', epochs=1)
    results = evaluate_checkpoint(tmp_path / 'run' / 'best.pt',
                                  prepared_file, tmp_path / 'run')
    assert results['num_samples'] == 20 * 4
    assert set(results['average']) >= {'mpjpe', 'p_mpjpe', 'n_mpjpe',
                                       'pck150', 'auc'}
    assert results['average']['p_mpjpe'] <= results['average']['mpjpe']
    for name in ('metrics.json', 'metrics.md', 'pose_typical.png',
                 'error_per_joint.png'):
        assert (tmp_path / 'run' / name).stat().st_size > 0
    model, config = load_for_inference(tmp_path / 'run' / 'best.pt')
    assert not model.training and config['frames'] == 3


def test_bf16_evaluation_is_close_to_fp32(tmp_path, prepared_file):
    tiny_run(prepared_file, tmp_path / 'run', epochs=1)
    kw = dict(pictures=False)
    fp32 = evaluate_checkpoint(tmp_path / 'run' / 'best.pt', prepared_file,
                               tmp_path / 'fp32', **kw)['average']
    bf16 = evaluate_checkpoint(tmp_path / 'run' / 'best.pt', prepared_file,
                               tmp_path / 'bf16', bf16=True, **kw)
    assert bf16['bf16'] is True
    # bf16 keeps 8 bits of mantissa: errors of a few tenths of a percent
    assert bf16['average']['mpjpe'] != fp32['mpjpe']
    assert bf16['average']['mpjpe'] == pytest.approx(fp32['mpjpe'],
                                                     rel=2e-2)

def test_bad_checkpoints(tmp_path, prepared_file):
    tiny_run(prepared_file, tmp_path / 'run', epochs=1)
    good = tmp_path / 'run' / 'best.pt'
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='not a readable PyTorch file'):
        load_checkpoint(truncated)

    class Evil:
        def __reduce__(self):
            return (os.system, ('echo pwned',))

    evil = tmp_path / 'evil.pt'
    torch.save({'format': 'pyg-wj-pose-checkpoint', 'x': Evil()}, evil)
    with pytest.raises(CheckpointError, match='refused'):
        load_checkpoint(evil)
    # a checkpoint of another preset cannot be resumed into this one
    with pytest.raises(CheckpointError, match='another model configuration'):
        train(preset_config('tiny', joints=16), TrainConfig(epochs=2),
              prepared_file, tmp_path / 'run', resume=True, progress=False)
    with pytest.raises(CheckpointError, match='NaN'):
        save_checkpoint(tmp_path / 'nan.pt',
                        {'model': {}, 'x': torch.tensor([float('nan')])})
    assert not (tmp_path / 'nan.pt').exists()


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path, prepared_file):
    """DDP (gloo, 2 processes) takes the same step as one process on the
    same global batch."""
    common = ['-m', 'models.pose', 'train', '--preset', 'tiny', '--data',
              str(prepared_file), '--epochs', '1', '--batch-size', '8',
              '--max-steps-per-epoch', '1', '--no-progress', '--no-evaluate',
              '--threads', '1', '--dropout', '0']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / 'torchrun'), '--standalone',  # free port
                    '--nproc_per_node', '2', *common, '--out',
                    str(tmp_path / 'two')], cwd=REPO, env=env, check=True,
                   timeout=600, capture_output=True)
    subprocess.run([sys.executable, *common, '--out', str(tmp_path / 'one')],
                   cwd=REPO, env=env, check=True, timeout=600,
                   capture_output=True)
    one = load_checkpoint(tmp_path / 'one' / 'last.pt')
    two = load_checkpoint(tmp_path / 'two' / 'last.pt')
    grads_one = one['optimizer']['state']
    grads_two = two['optimizer']['state']
    scale = max(s['exp_avg'].abs().max() for s in grads_one.values())
    for i, state in grads_one.items():  # (1 - beta1) * gradient
        assert (state['exp_avg'] - grads_two[i]['exp_avg']).abs().max() \
            <= 1e-5 * scale
    model = MLPGraphWJ(preset_config('tiny', dropout=0.0))
    for i, (name, _) in enumerate(model.named_parameters()):
        # Adam's first step is lr * sign(gradient): where the gradient is
        # zero up to the round-off bounded above (a bias right before
        # BatchNorm), its sign, and so the step, is noise. Elsewhere the
        # parameters must agree.
        determined = grads_one[i]['exp_avg'].abs() > 2e-5 * scale
        diff = (one['model'][name] - two['model'][name]).abs()
        assert (diff * determined).max() < 1e-5, name


def test_fused_optimizer_matches_the_plain_amsgrad_update():
    """build_optimizer's fused AMSGrad gives PyTorch's plain (for-loop)
    AMSGrad update to within 1e-6 relative over several steps."""
    import torch

    from models.pose.nn.config import preset_config
    from models.pose.nn.model import MLPGraphWJ
    from models.pose.train.config import TrainConfig
    from models.pose.train.optimizer import build_optimizer

    torch.manual_seed(0)
    fused_model = MLPGraphWJ(preset_config('tiny'))
    plain_model = MLPGraphWJ(preset_config('tiny'))
    plain_model.load_state_dict(fused_model.state_dict())
    initial = fused_model.head.weight.detach().clone()
    cfg = TrainConfig()
    fused = build_optimizer(fused_model, cfg)
    assert fused.defaults['fused'] is True
    plain = torch.optim.Adam(plain_model.parameters(), lr=cfg.lr,
                             amsgrad=True, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        for a, b in zip(fused_model.parameters(), plain_model.parameters()):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        fused.step()
        plain.step()
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not torch.equal(fused_model.head.weight, initial)  # it moved

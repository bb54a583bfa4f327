import pytest
import torch

from models.pose.nn.config import (
    PRESETS,
    FastPaths,
    ModelConfig,
    preset_config,
)
from models.pose.nn.model import MLPGraphWJ


@pytest.mark.parametrize('preset', sorted(PRESETS))
@pytest.mark.parametrize('joints', [16, 17])
@pytest.mark.parametrize('variant', ['wj', 'gcn', 'mixer'])
def test_output_shape(preset, joints, variant):
    cfg = preset_config(preset, joints=joints, variant=variant)
    model = MLPGraphWJ(cfg).eval()
    out = model(torch.randn(2, cfg.frames, joints, 2))
    assert out.shape == (2, joints, 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('preset, joints, expected', [
    ('paper-t1', 16, 5_419_059),  # paper Table 4: 5.42 M
    ('paper-t9', 16, 5_425_203),  # paper Table 4: 5.43 M
    ('paper-t1', 17, 5_425_020),
])
def test_parameter_counts_match_the_paper(preset, joints, expected):
    model = MLPGraphWJ(preset_config(preset, joints=joints))
    assert model.num_parameters() == expected


def test_authors_diagonal_changes_only_the_neighbour_term():
    torch.manual_seed(0)
    full = MLPGraphWJ(preset_config('demo')).eval()
    diag = MLPGraphWJ(preset_config('demo', authors_diagonal=True)).eval()
    diag.load_state_dict(full.state_dict())
    with torch.no_grad():  # make the neighbour term large enough to see
        for m in (full, diag):
            for block in m.blocks:
                block.graph_mixing.wj1.omega.fill_(1.0)
    x = torch.randn(3, 9, 17, 2)
    assert not torch.allclose(full(x), diag(x), atol=1e-4)
    layer = diag.blocks[0].graph_mixing.wj1
    assert layer.authors_diagonal and 'authors_diagonal=True' in repr(layer)


def test_centre_frame_sees_the_whole_window():
    model = MLPGraphWJ(preset_config('demo')).eval()
    x = torch.randn(1, 9, 17, 2)
    x2 = x.clone()
    x2[0, 0] += 0.5  # first frame only
    assert not torch.allclose(model(x), model(x2))


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="'joints' must be 17 .* got 15"):
        ModelConfig(joints=15)
    with pytest.raises(ValueError, match="'frames' must be a positive odd"):
        ModelConfig(frames=4)
    with pytest.raises(ValueError, match="'variant' must be one of"):
        ModelConfig(variant='transformer')
    with pytest.raises(ValueError, match='unknown preset'):
        preset_config('paper-t3')
    model = MLPGraphWJ(preset_config('paper-t1'))
    with pytest.raises(ValueError, match=r"\[batch, 1, 17, 2\] .* got "
                       r"\[4, 1, 16, 2\]"):
        model(torch.randn(4, 1, 16, 2))


@pytest.mark.parametrize('chunk_rows', [1, 7, 64, 10_000])
def test_blocked_joint_mixing_matches_the_plain_mlp(chunk_rows):
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny')).eval()
    block = model.blocks[0].joint_mixing
    block.inference_chunk_rows = chunk_rows  # this instance only
    x = torch.randn(5, 3, 17, 2)  # 5 x 32 = 160 rows: ragged last block
    with torch.no_grad():
        with model.fast_paths(inference_blocking=False):
            assert not block._blocked()
            plain = model(x)
        assert block._blocked()
        blocked = model(x)
    torch.testing.assert_close(blocked, plain, rtol=0, atol=1e-6)
    # with autograd or in training the plain path runs (gradients needed)
    assert not block._blocked()
    model.train()
    with torch.no_grad():
        assert not block._blocked()


def test_batch_blocking_in_inference_matches_one_pass():
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny')).eval()
    model.inference_batch_block = 4  # this instance only
    x = torch.randn(11, 3, 17, 2)
    with torch.no_grad():
        model.set_fast_paths(inference_blocking=False)
        whole = model(x)
        model.set_fast_paths(inference_blocking=True)
        blocked = model(x)  # blocks of 4, 4 and 3
    torch.testing.assert_close(blocked, whole, rtol=0, atol=1e-6)
    # training mode normalises with batch statistics: never blocked there
    model.train()
    torch.manual_seed(1)
    a = model(x)
    model.inference_batch_block = 0
    torch.manual_seed(1)
    torch.testing.assert_close(model(x), a)
    assert MLPGraphWJ.inference_batch_block == 64  # the class untouched


def _fast_path_flags(model):
    """Every switch the model's modules hold, in module order."""
    flags = []
    for m in model.modules():
        for name in ('inference_blocking', 'training_blocking', 'onednn'):
            if name in vars(m) or name == 'onednn' and '_onednn' in vars(m):
                flags.append((type(m).__name__, name, getattr(m, name)))
    return flags


def test_fast_paths_belong_to_one_model():
    """Changing one model's fast paths leaves another model in the same
    process alone, and the ``with`` form restores them even on error."""
    cfg = preset_config('tiny')
    first, second = MLPGraphWJ(cfg), MLPGraphWJ(cfg)
    untouched = _fast_path_flags(second)
    assert all(value for _, _, value in untouched)
    assert first.fast_path_options == FastPaths()
    with pytest.raises(RuntimeError, match='boom'):
        with first.fast_paths(inference_blocking=False, onednn=False,
                              training_blocking=False) as paths:
            assert paths == FastPaths(False, False, False, True)
            assert not any(value for _, _, value in _fast_path_flags(first))
            assert _fast_path_flags(second) == untouched
            assert 'onednn=False' in repr(first)
            assert 'onednn=False' not in repr(second)
            raise RuntimeError('boom')
    assert _fast_path_flags(first) == untouched
    previous = first.set_fast_paths(onednn=False)
    assert previous == FastPaths()
    assert first.fast_path_options == FastPaths(onednn=False)
    assert second.fast_path_options == FastPaths()
    assert 'fast_paths=FastPaths(inference_blocking=True, training_blocking=' \
        'True, onednn=False, folded_inference=True)' in repr(first)
    built = MLPGraphWJ(cfg, fast_paths=FastPaths(training_blocking=False))
    assert not built.blocks[0].joint_mixing.training_blocking
    with pytest.raises(TypeError, match="'onednn' must be a bool, got int"):
        FastPaths(onednn=0)


@pytest.mark.parametrize('variant', ['wj', 'gcn', 'mixer'])
def test_every_fast_path_gives_the_plain_output(variant):
    """Eval outputs agree to fp32 rounding whichever paths are on."""
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny', variant=variant)).eval()
    model.inference_batch_block = 3
    x = torch.randn(7, 3, 17, 2)
    with torch.no_grad():
        with model.fast_paths(inference_blocking=False, onednn=False,
                              training_blocking=False):
            plain = model(x)
        for changes in ({'inference_blocking': False}, {'onednn': False},
                        {}):
            with model.fast_paths(**changes):
                torch.testing.assert_close(model(x), plain, rtol=1e-5,
                                           atol=1e-6)

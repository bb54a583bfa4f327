import pytest
import torch

from models.pose.nn.model import (
    PRESETS,
    JointMixing,
    MLPGraphWJ,
    ModelConfig,
    preset_config,
)


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
def test_blocked_joint_mixing_matches_the_plain_mlp(monkeypatch, chunk_rows):
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny')).eval()
    x = torch.randn(5, 3, 17, 2)  # 5 x 32 = 160 rows: ragged last block
    with torch.no_grad():
        monkeypatch.setattr(JointMixing, 'inference_chunk_rows', 0)
        plain = model(x)
        monkeypatch.setattr(JointMixing, 'inference_chunk_rows', chunk_rows)
        block = model.blocks[0].joint_mixing
        assert block._blocked()
        blocked = model(x)
    torch.testing.assert_close(blocked, plain, rtol=0, atol=1e-6)
    # with autograd or in training the plain path runs (gradients needed)
    assert not block._blocked()
    model.train()
    with torch.no_grad():
        assert not block._blocked()


def test_batch_blocking_in_inference_matches_one_pass(monkeypatch):
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny')).eval()
    x = torch.randn(11, 3, 17, 2)
    with torch.no_grad():
        monkeypatch.setattr(MLPGraphWJ, 'inference_batch_block', 0)
        whole = model(x)
        monkeypatch.setattr(MLPGraphWJ, 'inference_batch_block', 4)
        blocked = model(x)  # blocks of 4, 4 and 3
    torch.testing.assert_close(blocked, whole, rtol=0, atol=1e-6)
    # training mode normalises with batch statistics: never blocked there
    model.train()
    torch.manual_seed(1)
    a = model(x)
    monkeypatch.setattr(MLPGraphWJ, 'inference_batch_block', 0)
    torch.manual_seed(1)
    torch.testing.assert_close(model(x), a)


def test_inference_blocking_switch_restores_settings():
    from models.pose.nn.model import inference_blocking
    before = (MLPGraphWJ.inference_batch_block,
              JointMixing.inference_chunk_rows)
    assert all(before)
    with inference_blocking(False):
        assert (MLPGraphWJ.inference_batch_block,
                JointMixing.inference_chunk_rows) == (0, 0)
    assert (MLPGraphWJ.inference_batch_block,
            JointMixing.inference_chunk_rows) == before

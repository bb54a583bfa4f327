"""The folded eval-mode path (models.pose.nn.cpu.eval_plan): the same
outputs as the plain path, and never stale after a parameter change."""
import copy

import pytest
import torch

from models.pose.nn.config import preset_config
from models.pose.nn.cpu import eval_plan
from models.pose.nn.model import MLPGraphWJ

#: The outputs' tolerance relative to their scale (largest magnitude).
RELATIVE = 1e-6


def _randomised(model: MLPGraphWJ) -> MLPGraphWJ:
    """Away from the initial values (Q = 1e-6, Omega = 1, BatchNorm
    statistics 0 and 1), so that every fold is exercised."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith(('Q', 'omega')) or 'norm' in name or 'bn' in name:
                t.add_(0.1 * torch.randn(t.shape, generator=gen))
        for b in model.blocks:
            for bn in (b.graph_mixing.bn1, b.graph_mixing.bn2):
                bn.running_mean.normal_(0.0, 0.1, generator=gen)
                bn.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


def _model(preset='demo', **overrides) -> MLPGraphWJ:
    torch.manual_seed(0)
    return _randomised(MLPGraphWJ(preset_config(preset, **overrides)))


def _inputs(model, batch=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cfg = model.config
    return torch.rand(batch, cfg.frames, cfg.joints, 2, generator=gen) * 2 - 1


def _float64_reference(model, x):
    """The plain path (F.linear, no folding) in float64."""
    reference = copy.deepcopy(model).double()
    with torch.no_grad(), reference.fast_paths(
            folded_inference=False, onednn=False, inference_blocking=False):
        return reference(x.double())


def _assert_matches(out, reference):
    scale = float(reference.abs().max())
    diff = float((out.double() - reference).abs().max())
    assert diff <= RELATIVE * scale, (diff, scale)


def _folded(model, x):
    with torch.inference_mode():
        out = model(x)
    assert eval_plan._PLANS.get(model) is not None  # the plan ran
    return out


@pytest.mark.parametrize('preset,overrides', [
    ('demo', {}), ('paper-t1', {}), ('tiny', {'joints': 16}),
    ('tiny', {'authors_diagonal': True})])
@pytest.mark.parametrize('batch', [1, 5])
def test_folded_path_matches_float64(preset, overrides, batch):
    model = _model(preset, **overrides)
    x = _inputs(model, batch)
    _assert_matches(_folded(model, x), _float64_reference(model, x))


def test_folded_path_with_blocking_and_without_onednn():
    model = _model('tiny')
    model.inference_batch_block = 2
    x = _inputs(model, 5)
    reference = _float64_reference(model, x)
    _assert_matches(_folded(model, x), reference)
    with model.fast_paths(onednn=False):
        _assert_matches(_folded(model, x), reference)


def _change_q(model):
    with torch.no_grad():
        model.blocks[0].graph_mixing.wj1.Q.add_(0.3)


def _optimizer_step(model):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(_inputs(model, 4, seed=3)).square().sum().backward()
    opt.step()  # also moves the BatchNorm statistics
    model.eval()


def _load_state_dict(model):
    other = _model()
    with torch.no_grad():
        for t in other.parameters():
            t.mul_(1.5)
    model.load_state_dict(other.state_dict())


def _round_trip(model):
    model.double()
    model.blocks[0].joint_mixing.fc1.weight.data.mul_(-1.0)
    model.float()


def _running_statistics(model):
    with torch.no_grad():
        model.blocks[-1].graph_mixing.bn2.running_var.mul_(3.0)


def _new_parameter(model):
    head = model.head
    head.weight = torch.nn.Parameter(2.0 * head.weight.detach())


@pytest.mark.parametrize('edit', [
    _change_q, _optimizer_step, _load_state_dict, _round_trip,
    _running_statistics, _new_parameter], ids=lambda f: f.__name__)
def test_folded_path_is_never_stale(edit):
    model = _model()
    x = _inputs(model)
    before = _folded(model, x)
    edit(model)
    after = _folded(model, x)
    _assert_matches(after, _float64_reference(model, x))
    assert not torch.allclose(after, before)  # the edit mattered


def test_plan_is_built_once_per_parameter_version():
    model = _model()
    x = _inputs(model)
    _folded(model, x)
    plan = eval_plan.plan_for(model)
    _folded(model, x)
    assert eval_plan.plan_for(model) is plan
    _change_q(model)
    assert eval_plan.plan_for(model) is not plan


def _operators_called(fn):
    with torch.profiler.profile() as prof:
        fn()
    return {e.name for e in prof.events()}


def test_plain_path_where_folding_does_not_apply():
    model = _model('tiny')
    x = _inputs(model)
    folded = _operators_called(lambda: _folded(model, x))
    assert 'aten::native_batch_norm' not in folded
    with torch.no_grad(), model.fast_paths(folded_inference=False):
        ran = _operators_called(lambda: model(x))
    assert 'aten::native_batch_norm' in ran
    # training mode, autograd and a hook see the modules themselves
    calls = []
    handle = model.blocks[0].graph_mixing.wj1.register_forward_hook(
        lambda *args: calls.append(1))
    with torch.no_grad():
        model(x)
    handle.remove()
    assert calls == [1]
    assert 'aten::native_batch_norm' in _operators_called(lambda: model(x))
    model.train()
    with torch.no_grad():
        assert 'aten::native_batch_norm' in _operators_called(
            lambda: model(x))


def test_plans_stay_out_of_copies_and_state_dicts():
    model = _model('tiny')
    _folded(model, _inputs(model))
    assert set(model.state_dict()) == set(_model('tiny').state_dict())
    clone = copy.deepcopy(model)
    assert eval_plan._PLANS.get(clone) is None
    _assert_matches(_folded(clone, _inputs(model)),
                    _float64_reference(model, _inputs(model)))

"""The caches of derived values (packed weights, Jacobi operators, the
pose model's folded eval path) stay right across the in-place updates
PyTorch makes without bumping a version counter."""
import torch

from models.pose.nn.config import preset_config
from models.pose.nn.model import MLPGraphWJ
from pyg_wj import DenseWJConv
from pyg_wj.nn import FusedLinear
from pyg_wj.utils.versions import generation, invalidate, tensor_state


def test_the_upstream_behaviour_the_generation_works_around():
    """If an upgrade makes these bump the version, the counter still does
    no harm; if a plain step stops bumping it, everything would be
    stale: both pinned."""
    p = torch.nn.Parameter(torch.randn(3, 3))
    p.sum().backward()
    version = p._version
    torch.optim.Adam([p], fused=True).step()
    assert p._version == version  # fused kernels: no bump
    bn = torch.nn.BatchNorm1d(3)
    version = bn.running_mean._version
    bn(torch.randn(8, 3))
    assert bn.running_mean._version == version  # nor running statistics
    before = tensor_state(p)
    torch.optim.Adam([p], fused=True).step()
    assert tensor_state(p) != before  # the generation moved
    start = generation()
    invalidate()
    assert generation() == start + 1


def _fused_step(module):
    for p in module.parameters():
        p.grad = torch.randn_like(p)
    torch.optim.Adam(module.parameters(), lr=0.1, fused=True).step()


def test_a_fused_optimizer_step_is_seen_by_the_packed_weights():
    lin = FusedLinear(8, 8).eval()
    x = torch.randn(17, 8)
    with torch.no_grad():
        lin(x)  # packs the weight
        _fused_step(lin)
        plain = torch.nn.functional.linear(x, lin.weight, lin.bias)
        torch.testing.assert_close(lin(x), plain, rtol=1e-5, atol=1e-5)


def test_a_fused_optimizer_step_is_seen_by_the_jacobi_operator():
    conv = DenseWJConv(4, 4, num_nodes=5, modulation=True)
    adj = (torch.rand(5, 5) > 0.5).float()
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        conv(x, x, adj)  # builds the operator
    _fused_step(conv)
    with torch.no_grad():
        cached = conv(x, x, adj)
    fresh = DenseWJConv(4, 4, num_nodes=5, modulation=True)
    fresh.load_state_dict(conv.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(cached, fresh(x, x, adj))


def test_training_between_evaluations_is_seen_by_the_folded_path():
    """As the training loop does it: validate, train (fused AMSGrad,
    BatchNorm statistics moving), validate again."""
    torch.manual_seed(0)
    model = MLPGraphWJ(preset_config('tiny')).eval()
    x = torch.randn(4, model.config.frames, model.config.joints, 2)
    with torch.no_grad():
        model(x)  # folds
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05, amsgrad=True,
                           fused=True)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        folded = model(x)
        with model.fast_paths(folded_inference=False):
            plain = model(x)
    scale = plain.abs().max()
    assert (folded - plain).abs().max() <= 1e-6 * scale

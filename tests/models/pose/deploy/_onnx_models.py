"""Models shared by the ONNX tests: every variant, far from its initial
values, and a checkpoint file of one."""
import torch

from models.pose.nn.checkpoint import save_checkpoint
from models.pose.nn.config import preset_config
from models.pose.nn.model import MLPGraphWJ

VARIANTS = {'wj': {}, 'wj-authors-diagonal': {'authors_diagonal': True},
            'gcn': {'variant': 'gcn'}, 'mixer': {'variant': 'mixer'}}


def tiny_model(seed=0, **overrides) -> MLPGraphWJ:
    """A tiny model whose BatchNorm statistics and every parameter are far
    from their initial values, so no term of the graph is trivially off."""
    torch.manual_seed(seed)
    model = MLPGraphWJ(preset_config('tiny', **overrides))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def checkpoint_of(tmp_path, model):
    path = tmp_path / 'best.pt'
    save_checkpoint(path, {'model': model.state_dict(),
                           'model_config': model.config.to_dict()})
    return path

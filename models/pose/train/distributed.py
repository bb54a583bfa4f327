"""Distributed data parallel training under ``torchrun``: the process group
and BatchNorm statistics over the global batch."""
import datetime
import os
from typing import Tuple

import torch
import torch.distributed as dist
from torch import nn


def setup_distributed(timeout_s: float) -> Tuple[int, int, torch.device]:
    """``(rank, world size, device)``; joins the process group that
    ``torchrun`` describes in the environment (none for one process)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world == 1:
        return 0, 1, torch.device('cpu')
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend,
                            timeout=datetime.timedelta(seconds=timeout_s))
    rank = dist.get_rank()
    device = torch.device('cpu')
    if backend == 'nccl':
        local = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local)
        device = torch.device('cuda', local)
    return rank, world, device


class GlooBatchNorm(nn.BatchNorm1d):
    """BatchNorm whose training statistics cover the global batch of all
    processes (PyTorch's SyncBatchNorm only runs on GPUs). With it, DDP on
    N processes computes the same update as one process on the whole batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        stats = torch.cat([x.sum(0), (x * x).sum(0),
                           x.new_full((1, ), float(x.size(0)))])
        stats = all_reduce(stats)  # differentiable
        c = x.size(1)
        count = stats[-1]
        mean = stats[:c] / count
        var = stats[c:2 * c] / count - mean * mean
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(
                var.detach() * count / (count - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight + self.bias


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm1d for one with cross-process statistics, in
    place, keeping parameters and buffers (so checkpoints stay plain)."""
    if torch.cuda.is_available():
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for child in module.modules():
        if type(child) is nn.BatchNorm1d:
            child.__class__ = GlooBatchNorm
    return module

"""The MLP-GraphWJ mixer (paper sec. 3.4): embedding, ``L`` mixer blocks
(:mod:`models.pose.nn.blocks`), regression head.

Shapes: inputs ``[B, T, J, 2]`` (normalised 2D), outputs ``[B, J, 3]``
(centre frame, root-relative, metres).
"""
import dataclasses
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import Tensor, nn

from models.pose.data.skeleton import get_skeleton
from models.pose.nn.blocks import JointMixing, MixerBlock, authors_init
from models.pose.nn.config import FastPaths, ModelConfig
from models.pose.nn.cpu.eval_plan import plan_applies, plan_for
from pyg_wj import DenseWJConv
from pyg_wj.nn import FusedLinear
from pyg_wj.utils import normalize_dense_adj
from pyg_wj.utils.versions import invalidate


class MLPGraphWJ(nn.Module):
    r"""MLP-GraphWJ mixer: 2D pose sequence ``[B, T, J, 2]`` to the centre
    frame's root-relative 3D pose ``[B, J, 3]``.

    In inference (eval mode, no autograd, not being compiled) large batches
    run :attr:`inference_batch_block` poses at a time, so the
    ``[block, J, R]`` activations of the graph mixing stay in cache: each
    pose's output is computed independently in eval mode, so the result is
    the same (the speed-up is in ``docs/performance.rst``). That and the
    model's other fast paths are options of this instance
    (:class:`~models.pose.nn.config.FastPaths`, shown by ``repr``): see
    :meth:`set_fast_paths` and :meth:`fast_paths`.

    Args:
        config (ModelConfig): Architecture; see
            :data:`~models.pose.nn.config.PRESETS`.
        fast_paths (FastPaths, optional): The fast paths to take.
            (default: all)
    """

    #: Poses per block in inference (``0`` turns blocking off).
    inference_batch_block: int = 64

    def __init__(self, config: Optional[ModelConfig] = None,
                 fast_paths: Optional[FastPaths] = None, **kwargs):
        super().__init__()
        self.config = cfg = config or ModelConfig(**kwargs)
        skeleton = get_skeleton(cfg.joints)
        adj = skeleton.adjacency()
        if cfg.variant == 'wj':  # WJ layers take the normalised A_hat
            adj = normalize_dense_adj(adj)
        self.register_buffer('adj', adj, persistent=False)
        self.embedding = nn.Linear(2 * cfg.frames, cfg.channels)
        self.blocks = nn.ModuleList(MixerBlock(cfg) for _ in range(cfg.layers))
        self.head_norm = nn.LayerNorm(cfg.channels)
        self.head = nn.Linear(cfg.channels, 3)
        self.reset_parameters()
        self._fast_paths = FastPaths()
        self.set_fast_paths(fast_paths or FastPaths())

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()
        for module in self.modules():
            if isinstance(module, DenseWJConv):
                authors_init(module)

    @property
    def fast_path_options(self) -> FastPaths:
        """The fast paths this model takes."""
        return self._fast_paths

    def set_fast_paths(self, paths: Optional[FastPaths] = None,
                       **changes: bool) -> FastPaths:
        """Take the fast paths ``paths`` (default: the current ones) with
        ``changes`` applied, e.g. ``set_fast_paths(onednn=False)``, in this
        model only; return the previous ones."""
        new = dataclasses.replace(paths or self._fast_paths, **changes)
        previous, self._fast_paths = self._fast_paths, new
        for module in self.modules():
            if isinstance(module, JointMixing):
                module.inference_blocking = new.inference_blocking
                module.training_blocking = new.training_blocking
            elif isinstance(module, (FusedLinear, DenseWJConv)):
                module.onednn = new.onednn
        return previous

    @contextmanager
    def fast_paths(self, **changes: bool) -> Iterator[FastPaths]:
        """:meth:`set_fast_paths` for a ``with`` block, e.g. ``with
        model.fast_paths(inference_blocking=False):``; the previous paths
        come back afterwards. Yields the paths in force."""
        previous = self.set_fast_paths(**changes)
        try:
            yield self._fast_paths
        finally:
            self.set_fast_paths(previous)

    def train(self, mode: bool = True) -> 'MLPGraphWJ':
        # BatchNorm's running statistics move in training-mode forwards
        # without bumping their version counters: a switch of mode marks
        # the folded eval path (and every cache keyed like it) stale
        invalidate()
        return super().train(mode)

    def forward(self, keypoints: Tensor) -> Tensor:
        cfg = self.config
        if keypoints.dim() != 4 or tuple(keypoints.shape[1:]) != (
                cfg.frames, cfg.joints, 2):
            raise ValueError(f"'keypoints' must have shape [batch, "
                             f"{cfg.frames}, {cfg.joints}, 2] (frames, "
                             f"joints, xy), got {list(keypoints.shape)}")
        block = self.inference_batch_block
        if (self._fast_paths.inference_blocking and
                keypoints.size(0) > block > 0 and not self.training and
                not torch.is_grad_enabled() and
                not torch.compiler.is_compiling()):
            return torch.cat([self._forward(keypoints[start:start + block])
                              for start in range(0, keypoints.size(0),
                                                 block)])
        return self._forward(keypoints)

    def _forward(self, keypoints: Tensor) -> Tensor:
        cfg = self.config
        # [B, T, J, 2] -> [B, J, 2T]: each joint's track as one vector
        x = keypoints.permute(0, 2, 1, 3).reshape(keypoints.size(0),
                                                  cfg.joints, -1)
        if (self._fast_paths.folded_inference and
                plan_applies(self, keypoints)):
            plan = plan_for(self)
            if plan is not None:
                return plan(x, self._fast_paths.onednn)
        embedding = self.embedding(x)
        h = embedding
        for block in self.blocks:
            h = block(h, embedding, self.adj)
        # bfloat16 keeps 3 significant digits, a 4 mm step on a 1 m
        # coordinate: under autocast the (tiny) head runs in the weights'
        # precision (what a bf16 head cost in MPJPE is in
        # docs/performance.rst, the bf16 row)
        with torch.autocast(h.device.type, enabled=False):
            h = h.to(self.head.weight.dtype)
            return self.head(self.head_norm(h))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f'fast_paths={self._fast_paths}'

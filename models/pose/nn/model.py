"""The MLP-GraphWJ mixer (paper sec. 3.4) and its ablation variants.

Layers, blocks and the full model are kept apart:

* :class:`JointMixing`: the joint-mixing MLP of eq. (7) (mixes along joints);
* :class:`GraphWJMixing`: two WJ layers with BatchNorm and GELU, eqs. (8)-(9);
  :class:`GraphGCNMixing` and :class:`ChannelMixing` are the ablation's
  replacements (paper Table 3);
* :class:`MLPGraphWJ`: embedding, ``L`` mixer blocks, regression head.

Dropout is :class:`~models.pose.nn.cpu.dropout.FastDropout`: ``nn.Dropout``
with a mask that is cheaper to draw on a CPU (same expectation, other
random masks).

Shapes: inputs ``[B, T, J, 2]`` (normalised 2D), outputs ``[B, J, 3]``
(centre frame, root-relative, metres).
"""
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseGCNConv

from models.pose.data.skeleton import get_skeleton
from models.pose.nn.cpu.blocked_mlp import blocked_joint_mlp
from models.pose.nn.cpu.dropout import FastDropout
from pyg_wj import DenseWJConv
from pyg_wj.nn import FusedLinear
from pyg_wj.utils import normalize_dense_adj

VARIANTS = ('wj', 'gcn', 'mixer')


@dataclass
class ModelConfig:
    """Architecture hyper-parameters; the paper's are the defaults."""
    joints: int = 17
    frames: int = 1
    layers: int = 3
    channels: int = 384  # F
    hidden: int = 768  # R
    alpha: float = 0.1
    dropout: float = 0.2
    variant: str = 'wj'
    authors_diagonal: bool = False

    def __post_init__(self):
        get_skeleton(self.joints)  # raises for anything but 16 or 17
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"'frames' must be a positive odd number (the "
                             f"model predicts the centre frame), got "
                             f"{self.frames}")
        if self.variant not in VARIANTS:
            raise ValueError(f"'variant' must be one of {VARIANTS}, got "
                             f"{self.variant!r}")
        if self.authors_diagonal and self.variant != 'wj':
            raise ValueError("'authors_diagonal' only applies to variant "
                             "'wj'")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> 'ModelConfig':
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**d)


#: Architecture presets. ``paper-t*`` are the paper's (Table 4 / Table 1);
#: ``demo`` is small enough to train on 2 CPU cores in minutes; ``tiny`` is
#: for tests and smoke runs.
PRESETS: Dict[str, Dict[str, Any]] = {
    **{f'paper-t{t}': dict(frames=t) for t in (1, 9, 27, 81, 243)},
    'demo': dict(frames=9, layers=2, channels=128, hidden=256),
    'tiny': dict(frames=3, layers=1, channels=32, hidden=64),  # tests
}


def preset_config(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of "
                         f"{sorted(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


def _bn(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """BatchNorm over every (sample, joint) per channel, no transposes."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


class JointMixing(nn.Module):
    """Eq. (7): ``H + (W6 GELU(W5 LN(H)^T))^T``, an MLP along the joints.

    Its hidden tensor ``[B, F, F]`` is the model's largest (600 MB at batch
    1024 for ``paper-t1``) while its GEMMs are thin (``K`` or ``N`` is the
    joint count), so on a CPU this MLP is bound by memory traffic, not
    arithmetic. Without autograd it therefore runs in blocks of
    :attr:`inference_chunk_rows` rows of ``[B * F, J]``, keeping each block's
    hidden tensor in cache: measured 2.2x faster for the MLP on 2 cores (with
    GELU as a separate pass; x1.2 for the model once GELU moved into
    ``fc1``'s GEMM, :class:`~pyg_wj.nn.FusedLinear`), same
    result (see ``docs/performance.rst``).
    """

    #: Rows per block in inference (``0`` turns blocking off); 2048 rows of
    #: a 384-wide hidden layer are 3 MiB, within a 16 MiB L3 cache.
    inference_chunk_rows: int = 2048
    #: Rows per block with autograd on a CPU (``0``: autograd's plain
    #: path), see :mod:`models.pose.nn.cpu.blocked_mlp`.
    training_chunk_rows: int = 2048

    def __init__(self, joints: int, channels: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.fc1 = FusedLinear(joints, channels, activation='gelu')
        self.fc2 = FusedLinear(channels, joints)
        self.dropout = FastDropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        y = self.norm(h).transpose(-1, -2)  # [B, F, J]
        if self._blocked():
            return h + self._mlp_blocked(y).transpose(-1, -2)
        if self._blocked_with_autograd(y):
            p = self.dropout.p if self.training else 0.0
            rows = blocked_joint_mlp(
                y.reshape(-1, y.size(-1)), self.fc1.weight, self.fc1.bias,
                self.fc2.weight, self.fc2.bias, p, self.training_chunk_rows)
            y = self.dropout(rows.view(*y.shape[:-1], -1))
            return h + y.transpose(-1, -2)
        y = self.dropout(self.fc1(y))  # fc1 applies the GELU
        y = self.dropout(self.fc2(y))
        return h + y.transpose(-1, -2)

    def _blocked(self) -> bool:
        # autograd would keep every block's hidden tensor alive anyway, and
        # a compiler would unroll the loop: block only plain inference
        return (self.inference_chunk_rows > 0 and not self.training and
                not torch.is_grad_enabled() and
                not torch.compiler.is_compiling())

    def _blocked_with_autograd(self, y: Tensor) -> bool:
        # fp32 on a CPU, eager: autocast would change the GEMMs' dtype, a
        # compiler fuses on its own, a tracer (fvcore, ONNX) cannot see
        # into the autograd Function, and GPUs have the bandwidth
        return (self.training_chunk_rows > 0 and torch.is_grad_enabled() and
                y.device.type == 'cpu' and y.dtype == torch.float32 and
                not torch.is_autocast_enabled('cpu') and
                not torch.compiler.is_compiling() and
                not torch.jit.is_tracing())

    def _mlp_blocked(self, y: Tensor) -> Tensor:
        rows = y.reshape(-1, y.size(-1))  # [B * F, J]
        step = self.inference_chunk_rows
        out = [self.fc2(self.fc1(rows[start:start + step]))
               for start in range(0, rows.size(0), step)]
        return torch.cat(out).view(*y.shape[:-1], -1)


class GraphWJMixing(nn.Module):
    """Eqs. (8)-(10): two WJ layers ``F -> R -> F`` with BN, GELU, dropout.

    The first layer's initial features are the skeleton embedding ``E``;
    the second layer's are the first one's ``E W3`` (the authors' wiring,
    which gives the published parameter counts).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        kw = dict(alpha=cfg.alpha, omega='node', num_nodes=cfg.joints,
                  modulation=True, normalize=False,
                  authors_diagonal=cfg.authors_diagonal)
        self.wj1 = DenseWJConv(cfg.channels, cfg.hidden, **kw)
        self.wj2 = DenseWJConv(cfg.hidden, cfg.channels,
                               x0_channels=cfg.hidden, **kw)
        self.bn1 = nn.BatchNorm1d(cfg.hidden)
        self.bn2 = nn.BatchNorm1d(cfg.channels)
        self.dropout = FastDropout(cfg.dropout)

    def forward(self, u: Tensor, embedding: Tensor, adj: Tensor) -> Tensor:
        p, e_w3 = self.wj1(u, embedding, adj, return_x0_proj=True)
        p = self.dropout(F.gelu(_bn(self.bn1, p)))
        q = self.wj2(p, e_w3, adj)
        q = self.dropout(F.gelu(_bn(self.bn2, q)))
        return u + q


class GraphGCNMixing(nn.Module):
    """Ablation: the GraphWJ block with standard GCN layers (Table 3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gcn1 = DenseGCNConv(cfg.channels, cfg.hidden)
        self.gcn2 = DenseGCNConv(cfg.hidden, cfg.channels)
        self.bn1 = nn.BatchNorm1d(cfg.hidden)
        self.bn2 = nn.BatchNorm1d(cfg.channels)
        self.dropout = FastDropout(cfg.dropout)

    def forward(self, u: Tensor, embedding: Tensor, adj: Tensor) -> Tensor:
        p = self.dropout(F.gelu(_bn(self.bn1, self.gcn1(u, adj))))
        q = self.dropout(F.gelu(_bn(self.bn2, self.gcn2(p, adj))))
        return u + q


class ChannelMixing(nn.Module):
    """Ablation: MLP-Mixer's channel-mixing MLP, no graph (Table 3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.channels)
        self.fc1 = nn.Linear(cfg.channels, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.channels)
        self.dropout = FastDropout(cfg.dropout)

    def forward(self, u: Tensor, embedding: Tensor, adj: Tensor) -> Tensor:
        y = self.dropout(F.gelu(self.fc1(self.norm(u))))
        return u + self.dropout(self.fc2(y))


class MixerBlock(nn.Module):
    """Joint mixing followed by graph (or channel) mixing."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.joint_mixing = JointMixing(cfg.joints, cfg.channels, cfg.dropout)
        second = {'wj': GraphWJMixing, 'gcn': GraphGCNMixing,
                  'mixer': ChannelMixing}[cfg.variant]
        self.graph_mixing = second(cfg)

    def forward(self, h: Tensor, embedding: Tensor, adj: Tensor) -> Tensor:
        return self.graph_mixing(self.joint_mixing(h), embedding, adj)


class MLPGraphWJ(nn.Module):
    r"""MLP-GraphWJ mixer: 2D pose sequence ``[B, T, J, 2]`` to the centre
    frame's root-relative 3D pose ``[B, J, 3]``.

    In inference (eval mode, no autograd, not being compiled) large batches
    run :attr:`inference_batch_block` poses at a time, so the
    ``[block, J, R]`` activations of the graph mixing stay in cache: each
    pose's output is computed independently in eval mode, so the result is
    the same, and measured 11% faster at batch 1024 on 2 cores.

    Args:
        config (ModelConfig): Architecture; see :data:`PRESETS`.
    """

    #: Poses per block in inference (``0`` turns blocking off).
    inference_batch_block: int = 64

    def __init__(self, config: Optional[ModelConfig] = None, **kwargs):
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

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()
        for module in self.modules():
            if isinstance(module, DenseWJConv):
                authors_init(module)

    def forward(self, keypoints: Tensor) -> Tensor:
        cfg = self.config
        if keypoints.dim() != 4 or tuple(keypoints.shape[1:]) != (
                cfg.frames, cfg.joints, 2):
            raise ValueError(f"'keypoints' must have shape [batch, "
                             f"{cfg.frames}, {cfg.joints}, 2] (frames, "
                             f"joints, xy), got {list(keypoints.shape)}")
        block = self.inference_batch_block
        if (keypoints.size(0) > block > 0 and not self.training and
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
        embedding = self.embedding(x)
        h = embedding
        for block in self.blocks:
            h = block(h, embedding, self.adj)
        # bfloat16 keeps 3 significant digits, a 4 mm step on a 1 m
        # coordinate: under autocast the (tiny) head runs in the weights'
        # precision (measured on the demo set: MPJPE moved 0.29 mm from
        # fp32 with a bf16 head, 0.09 mm with this)
        with torch.autocast(h.device.type, enabled=False):
            h = h.to(self.head.weight.dtype)
            return self.head(self.head_norm(h))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def authors_init(wj: DenseWJConv, gain: float = math.sqrt(2.0)) -> None:
    """The initial distribution of the authors' code (see
    ``docs/faithfulness.rst``).

    Their weights are 3-D tensors ``(k, in, out)`` initialised with
    Xavier-uniform, whose fan counts the product of the trailing sizes, so
    the bounds are far smaller than a 2-D Xavier init would give: the graph
    terms start almost switched off. We draw from the same distributions.
    """
    def uniform_(t: Tensor, fan_in: int, fan_out: int) -> None:
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(t, -bound, bound)

    f_in, f_out, f_0 = wj.in_channels, wj.out_channels, wj.x0_channels
    with torch.no_grad():
        uniform_(wj.lin.weight, f_in * f_out, 2 * f_out)
        uniform_(wj.lin_initial.weight, f_0 * f_out, f_out)
        if wj.omega is not None and wj.omega.dim() == 2:
            uniform_(wj.omega, wj.omega.size(0) * f_out, f_out)


@contextmanager
def _blocking(switches, enabled: bool) -> Iterator[None]:
    """Set the class attributes ``switches`` (``(class, name)`` pairs) to
    0 (off) unless ``enabled``, for a ``with`` block; restore them after."""
    saved = [getattr(cls, name) for cls, name in switches]
    if not enabled:
        for cls, name in switches:
            setattr(cls, name, 0)
    try:
        yield
    finally:
        for (cls, name), value in zip(switches, saved):
            setattr(cls, name, value)


def inference_blocking(enabled: bool):
    """Switch the cache blocking of inference (:attr:`MLPGraphWJ.
    inference_batch_block`, :attr:`JointMixing.inference_chunk_rows`) on or
    off for every model inside a ``with`` block, e.g. to time or check it.
    """
    return _blocking(((MLPGraphWJ, 'inference_batch_block'),
                      (JointMixing, 'inference_chunk_rows')), enabled)


def training_blocking(enabled: bool):
    """Switch the blocked joint-mixing MLP of training
    (:attr:`JointMixing.training_chunk_rows`,
    :mod:`models.pose.nn.cpu.blocked_mlp`) on or off inside a ``with``
    block."""
    return _blocking(((JointMixing, 'training_chunk_rows'), ), enabled)

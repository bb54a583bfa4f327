"""The mixer's blocks (paper sec. 3.4) and the ablation's replacements.

* :class:`JointMixing`: the joint-mixing MLP of eq. (7) (mixes along joints);
* :class:`GraphWJMixing`: two WJ layers with BatchNorm and GELU, eqs. (8)-(9);
  :class:`GraphGCNMixing` and :class:`ChannelMixing` are the ablation's
  replacements (paper Table 3);
* :class:`MixerBlock`: joint mixing followed by one of those.

Dropout is :class:`~models.pose.nn.cpu.dropout.FastDropout`: ``nn.Dropout``
with a mask that is cheaper to draw on a CPU (same expectation, other
random masks).
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseGCNConv

from models.pose.nn.config import ModelConfig
from models.pose.nn.cpu.blocked_mlp import blocked_joint_mlp
from models.pose.nn.cpu.dropout import FastDropout
from pyg_wj import DenseWJConv
from pyg_wj.nn import FusedLinear


def _bn(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """BatchNorm over every (sample, joint) per channel, no transposes."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


class JointMixing(nn.Module):
    """Eq. (7): ``H + (W6 GELU(W5 LN(H)^T))^T``, an MLP along the joints.

    Its hidden tensor ``[B, F, F]`` is the model's largest (600 MB at batch
    1024 for ``paper-t1``) while its GEMMs are thin (``K`` or ``N`` is the
    joint count), so on a CPU this MLP is bound by memory traffic, not
    arithmetic. Without autograd it therefore runs in blocks of
    :attr:`inference_chunk_rows` rows of ``[B * F, J]``, keeping each
    block's hidden tensor in cache, with the same result; in fp32 CPU
    training it runs :func:`~models.pose.nn.cpu.blocked_mlp.
    blocked_joint_mlp` in blocks of :attr:`training_chunk_rows`. What either
    buys is measured in ``docs/performance.rst``. The instance attributes
    ``inference_blocking`` and ``training_blocking`` switch them (the
    model's :class:`~models.pose.nn.config.FastPaths` sets them).
    """

    #: Rows per block in inference; 2048 rows of a 384-wide hidden layer
    #: are 3 MiB, within a 16 MiB L3 cache.
    inference_chunk_rows: int = 2048
    #: Rows per block with autograd on a CPU, see
    #: :mod:`models.pose.nn.cpu.blocked_mlp`.
    training_chunk_rows: int = 2048
    #: Fewest rows (``B * F``) for which training takes the blocked path:
    #: below it the hidden tensors stay in cache anyway, and recomputing
    #: them in the backward pass costs more than it saves (the measured
    #: crossover is in ``docs/performance.rst``).
    training_min_rows: int = 32768

    def __init__(self, joints: int, channels: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.fc1 = FusedLinear(joints, channels, activation='gelu')
        self.fc2 = FusedLinear(channels, joints)
        self.dropout = FastDropout(dropout)
        self.inference_blocking = True
        self.training_blocking = True

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
        return (self.inference_blocking and self.inference_chunk_rows > 0
                and not self.training and not torch.is_grad_enabled() and
                not torch.compiler.is_compiling())

    def _blocked_with_autograd(self, y: Tensor) -> bool:
        # fp32 on a CPU, eager: autocast would change the GEMMs' dtype, a
        # compiler fuses on its own, a tracer (fvcore, ONNX) cannot see
        # into the autograd Function, and GPUs have the bandwidth
        return (self.training_blocking and self.training_chunk_rows > 0 and
                y.numel() >= self.training_min_rows * y.size(-1) and
                torch.is_grad_enabled() and
                y.device.type == 'cpu' and y.dtype == torch.float32 and
                not torch.is_autocast_enabled('cpu') and
                not torch.compiler.is_compiling() and
                not torch.jit.is_tracing())

    def _mlp_blocked(self, y: Tensor) -> Tensor:
        rows = y.reshape(-1, y.size(-1))  # [B * F, J]
        step = self.inference_chunk_rows
        if rows.size(0) <= step:  # one block: no copy through torch.cat
            return self.fc2(self.fc1(rows)).view(*y.shape[:-1], -1)
        out = [self.fc2(self.fc1(rows[start:start + step]))
               for start in range(0, rows.size(0), step)]
        return torch.cat(out).view(*y.shape[:-1], -1)

    def extra_repr(self) -> str:
        return (f'inference_blocking={self.inference_blocking}, '
                f'training_blocking={self.training_blocking}')


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

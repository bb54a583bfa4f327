"""What a pose model is (:class:`ModelConfig`, :data:`PRESETS`) and how it
computes (:class:`FastPaths`).

A :class:`ModelConfig` is the architecture: it goes into checkpoints and
fixes the function the model computes. :class:`FastPaths` only picks
between equivalent ways of computing that function (the same outputs to
fp32 rounding), per model instance; it is not saved.
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Optional

from models.pose.data.skeleton import get_skeleton

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
    # what the model was trained to predict: the window's centre frame
    # (False; checkpoints from before the key load so), or its last frame
    # (True: the window holds only past and present frames, for live use
    # with no delay). Every consumer builds its windows from it.
    causal: bool = False

    def __post_init__(self):
        get_skeleton(self.joints)  # raises for anything but 16 or 17
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"'frames' must be a positive odd number (the "
                             f"model predicts the centre frame), got "
                             f"{self.frames}")
        if not isinstance(self.causal, bool):
            raise ValueError(f"'causal' must be a bool, got "
                             f"{type(self.causal).__name__} "
                             f"{self.causal!r}")
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


def causal_of(model: Any, causal: Optional[bool] = None) -> bool:
    """Whether ``model`` predicts its window's last frame: its config's
    ``causal`` (a model without a config, a stand-in or an ONNX file
    without metadata, counts as centred). ``causal`` given must agree."""
    config = getattr(model, 'config', None)
    known = getattr(config, 'causal', None)
    if causal is None:
        return bool(known)
    if not isinstance(causal, bool):
        raise ValueError(f"'causal' must be a bool or None, got "
                         f"{causal!r}")
    if known is not None and causal != known:
        raise ValueError(f"'causal' is {causal}, but the model was trained "
                         f"{'causal' if known else 'centred'} (its config "
                         f"says causal={known}); leave 'causal' out to "
                         f"follow the model")
    return causal


def preset_config(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of "
                         f"{sorted(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


@dataclass(frozen=True)
class FastPaths:
    """Which equivalent fast paths one model takes; all on by default.

    Each path applies only where it is safe (see the modules named below)
    and computes the same outputs as the plain path to fp32 rounding;
    switching one off is for timing, checking, or tracing a portable graph
    (the ONNX export). Set them with
    :meth:`~models.pose.nn.model.MLPGraphWJ.set_fast_paths` or, for a
    ``with`` block, :meth:`~models.pose.nn.model.MLPGraphWJ.fast_paths`.

    Attributes:
        inference_blocking (bool): Plain inference (eval mode, no autograd,
            not compiled) in cache-sized blocks: poses
            (:attr:`~models.pose.nn.model.MLPGraphWJ.inference_batch_block`)
            and joint-mixing rows
            (:attr:`~models.pose.nn.blocks.JointMixing.inference_chunk_rows`).
        training_blocking (bool): The joint-mixing MLP's fp32 CPU training
            step in blocks of rows (:mod:`models.pose.nn.cpu.blocked_mlp`).
        onednn (bool): CPU fp32 inference GEMMs through oneDNN's fused
            kernel (:func:`pyg_wj.utils.linear`) instead of ``F.linear``.
        folded_inference (bool): Eval-mode fp32 CPU inference with its
            constants (Jacobi operators, BatchNorm and LayerNorm affines,
            the initial-feature terms) folded once per parameter version
            (:mod:`models.pose.nn.cpu.eval_plan`).
    """
    inference_blocking: bool = True
    training_blocking: bool = True
    onednn: bool = True
    folded_inference: bool = True

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool):
                raise TypeError(f"'{f.name}' must be a bool, got "
                                f"{type(value).__name__} {value!r}")


#: Table 3's budget: the paper sized its four ablation variants to about
#: 0.95 M parameters (``match_parameters``).
TABLE3_PARAMETERS = 950_000


def count_parameters(cfg: ModelConfig) -> int:
    """The number of parameters of the model ``cfg`` describes, counted on
    PyTorch's ``meta`` device (nothing is allocated)."""
    import torch  # lazy, like the model: nn.model imports this module

    from models.pose.nn.model import MLPGraphWJ
    with torch.device('meta'):
        return MLPGraphWJ(cfg).num_parameters()


def match_parameters(cfg: ModelConfig, target: int,
                     tolerance: float = 0.02) -> ModelConfig:
    """``cfg`` with its MLP hidden width ``hidden`` (R) changed, and
    nothing else, so that the model has ``target`` parameters within
    ``tolerance`` (relative): a fair ablation compares variants at one
    budget (Table 3: :data:`TABLE3_PARAMETERS`). The feature width
    ``channels`` (F), the layers and the frames stay, so only how wide the
    mixing MLPs are differs. The count grows with ``hidden``, so the
    nearest width is found by bisection."""
    if isinstance(target, bool) or not isinstance(target, int) or \
            target < 1:
        raise ValueError(f"'target' must be a positive number of "
                         f"parameters, got {target!r}")
    if not 0.0 < tolerance < 1.0:
        raise ValueError(f"'tolerance' must lie in (0, 1), got {tolerance}")

    def count(hidden: int) -> int:
        return count_parameters(replace(cfg, hidden=hidden))

    low, high = 1, max(2, cfg.hidden)
    while count(high) < target:
        low, high = high, 2 * high
    while high - low > 1:  # count(low) < target <= count(high), or low = 1
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else \
            (low, middle)
    best = min((low, high), key=lambda h: abs(count(h) - target))
    if abs(count(best) - target) > tolerance * target:
        raise ValueError(
            f"no hidden width gives {cfg.variant!r} {target:,} parameters "
            f"within {tolerance:.0%}: hidden {best} gives "
            f"{count(best):,} (the feature width, channels={cfg.channels}, "
            f"stays); expected a target of at least {count(1):,}")
    return replace(cfg, hidden=best)

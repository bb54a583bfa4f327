"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain Python values saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``, so a file
from an untrusted source cannot run code. Writing goes to a temporary file
in the same directory that replaces the target only once complete: a crash
or a full disk never leaves a truncated ``last.pt`` or ``best.pt`` behind.

Every checkpoint carries ``digest``: a SHA-256 over everything else in it
(each tensor's name, dtype, shape and bytes; every plain value's name and
``repr``), verified on load, since torch does not check the zip archive's
CRCs and a flipped byte would otherwise load silently. A checkpoint written
before digests existed loads with a warning. Loading also refuses NaN or
inf anywhere, a negative BatchNorm running variance, tensors whose dtype
differs from the model's (no silent casts) and model configurations beyond
:data:`CONFIG_BOUNDS`, and names the tensor when the weights do not fit.
What a training checkpoint holds beside model and optimizer, and its
checks for ``--resume``, are :class:`models.pose.train.state.TrainState`'s.
"""
import hashlib
import io
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from models.common.files import atomic_write, refuse_special_file
from models.pose.nn.config import ModelConfig
from models.pose.nn.model import MLPGraphWJ

FORMAT = 'pyg-wj-pose-checkpoint'
VERSION = 1
PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit."""


#: The largest architecture a checkpoint's ``model_config`` may ask for
#: (each paper preset is far inside): a config is a few bytes, and without
#: a bound a 1 KB file could request terabytes of weights.
CONFIG_BOUNDS = {'frames': 1023, 'layers': 64, 'channels': 8192,
                 'hidden': 32768}


def _digest_update(h, value: Any, name: str) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().to('cpu').contiguous().reshape(-1)
        h.update(f'T{name}|{t.dtype}|{tuple(value.shape)}|'.encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel()
                 else b'')
    elif isinstance(value, dict):
        h.update(f'D{name}|{len(value)}|'.encode())
        for key in sorted(value, key=repr):
            _digest_update(h, value[key], f'{name}.{key!r}')
    elif isinstance(value, (list, tuple)):
        h.update(f'L{name}|{len(value)}|'.encode())
        for i, item in enumerate(value):
            _digest_update(h, item, f'{name}.{i}')
    else:
        h.update(f'V{name}|{type(value).__name__}|{value!r}|'.encode())


def state_digest(state: Dict[str, Any]) -> str:
    """SHA-256 (hex) of a checkpoint's content, its ``digest`` key left
    out: tensor names, dtypes, shapes and bytes, plain values by ``repr``."""
    h = hashlib.sha256()
    _digest_update(h, {k: v for k, v in state.items() if k != 'digest'}, '')
    return h.hexdigest()


def _non_finite(value: Any, name: str) -> Optional[str]:
    """The name of the first floating-point tensor in ``value`` (searching
    nested dicts and lists) holding NaN or inf, else ``None``."""
    if isinstance(value, torch.Tensor):
        bad = value.is_floating_point() and not torch.isfinite(value).all()
        return name if bad else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f'{name}.{key}' if name else str(key))
        if found:
            return found
    return None


def save_checkpoint(path: PathLike, state: Dict[str, Any]) -> None:
    """Save ``state`` (plus format tags) to ``path`` atomically.

    A state holding NaN or inf anywhere (weights, optimizer moments) is
    refused, so a diverged run never replaces a good checkpoint.
    """
    bad = _non_finite(state, '')
    if bad:
        raise CheckpointError(f"refusing to save a checkpoint to {path}: "
                              f"'{bad}' holds NaN or inf")
    payload = {'format': FORMAT, 'version': VERSION, **state}
    payload['digest'] = state_digest(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


def load_checkpoint(path: PathLike,
                    map_location: Union[str, torch.device] = 'cpu'
                    ) -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a "
                              f"checkpoint file (did you mean "
                              f"{path / 'best.pt'}?)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch "
                              f"file (not a zip archive: truncated, or "
                              f"another kind of file)")
    try:
        state = torch.load(path, map_location=map_location,
                           weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"checkpoint {path} holds objects that are not plain tensors or "
            f"Python values and was refused (loaded with weights_only=True, "
            f"so it cannot run code)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError,
            ValueError, TypeError, KeyError, IndexError, AttributeError,
            RecursionError, MemoryError, OverflowError) as err:
        text = str(err).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {path} is not a readable PyTorch file (truncated or "
            f"corrupt?): {type(err).__name__}"
            f"{': ' + text[0] if text else ''}") from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f"{path} is not a pyg-wj pose checkpoint "
                              f"(missing format tag {FORMAT!r})")
    if state.get('version') != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version "
                              f"{state.get('version')}, expected {VERSION}")
    _check_digest(state, path)
    for key, kind in (('model', dict), ('model_config', dict)):
        if key not in state:
            raise CheckpointError(f"checkpoint {path} lacks the key {key!r}")
        if not isinstance(state[key], kind):
            raise CheckpointError(
                f"checkpoint {path}: key {key!r} is a "
                f"{type(state[key]).__name__}, expected a {kind.__name__}")
    bad = _non_finite(state, '')
    if bad:
        raise CheckpointError(
            f"checkpoint {path}: '{bad}' holds NaN or inf (a diverged or "
            f"damaged checkpoint cannot be evaluated or resumed; use an "
            f"earlier one)")
    return state


def _check_digest(state: Dict[str, Any], path: Path) -> None:
    """The stored SHA-256 digest must match the content (a checkpoint
    without one loads with a warning)."""
    stored = state.get('digest')
    if stored is None:
        message = (f"checkpoint {path} has no digest (written before "
                   f"checkpoints carried one): loaded without an integrity "
                   f"check")
        warnings.warn(message, UserWarning, stacklevel=3)  # load's caller
    elif not isinstance(stored, str) or stored != state_digest(state):
        raise CheckpointError(
            f"checkpoint {path} is corrupt: its content does not match the "
            f"SHA-256 digest stored in it (a changed byte on disk or in "
            f"transfer); use another copy or an earlier checkpoint")


def _check_config(config: Dict[str, Any], path: PathLike) -> None:
    """Types and bounds of a checkpoint's model config, checked before
    anything is allocated."""
    for key, limit in CONFIG_BOUNDS.items():
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise CheckpointError(
                f"checkpoint {path} has an invalid model config: {key!r} is "
                f"{value!r}, expected an integer")
        if not 1 <= value <= limit:
            raise CheckpointError(
                f"checkpoint {path} has an invalid model config: {key!r} is "
                f"{value}, expected 1 to {limit}")
    for key in ('alpha', 'dropout'):
        value = config.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not (math.isfinite(value) and 0 <= value <= 1):
            raise CheckpointError(
                f"checkpoint {path} has an invalid model config: {key!r} is "
                f"{value!r}, expected a number in [0, 1]")


def _check_weights(weights: Dict[str, Any], config: ModelConfig,
                   path: PathLike) -> None:
    """Compare the stored tensors with the model ``config`` describes
    (built on the meta device, so nothing is allocated): every missing,
    unexpected, reshaped or re-typed tensor is named."""
    with torch.device('meta'):
        expected = MLPGraphWJ(config).state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing[:5]))}"
                         f"{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(map(repr, unexpected[:5]))}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(f"checkpoint {path} does not fit the model it "
                              f"describes: {'; '.join(parts)}")
    for key, ref in expected.items():
        value = weights[key]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"checkpoint {path}: weight {key!r} is a "
                f"{type(value).__name__}, expected a tensor")
        if tuple(value.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"checkpoint {path} does not fit the model it describes: "
                f"tensor {key!r} has shape {list(value.shape)}, expected "
                f"{list(ref.shape)}")
        if value.dtype != ref.dtype:
            raise CheckpointError(
                f"checkpoint {path}: tensor {key!r} has dtype {value.dtype}, "
                f"expected {ref.dtype} (refused rather than cast)")
        if key.endswith('running_var') and bool((value < 0).any()):
            raise CheckpointError(
                f"checkpoint {path}: BatchNorm running variance {key!r} has "
                f"negative entries (a damaged checkpoint)")


def checked_model_config(state: Dict[str, Any], path: PathLike,
                         expected: Optional[ModelConfig] = None
                         ) -> ModelConfig:
    """The model configuration a checkpoint describes, once its bounds and
    its weights' names, shapes and dtypes are checked against it.

    With ``expected`` given, a checkpoint of another architecture (preset,
    joint count, variant) is refused with the differences spelled out.
    """
    _check_config(state['model_config'], path)
    try:
        config = ModelConfig.from_dict(state['model_config'])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} has an invalid model "
                              f"config: {err}") from None
    if expected is not None and config != expected:
        diff = {k: (v, getattr(expected, k))
                for k, v in config.to_dict().items()
                if getattr(expected, k) != v}
        text = ', '.join(f"{k}={a!r} (expected {b!r})"
                         for k, (a, b) in diff.items())
        raise CheckpointError(f"checkpoint {path} was trained with another "
                              f"model configuration: {text}")
    _check_weights(state['model'], config, path)
    return config


def load_weights(model: MLPGraphWJ, state: Dict[str, Any],
                 path: PathLike) -> None:
    """Copy a checkpoint's weights into ``model`` (of the configuration
    :func:`checked_model_config` returned for it)."""
    try:
        model.load_state_dict(state['model'])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit the model it "
                              f"describes: {str(err).splitlines()[0]}") \
            from None


def build_model(state: Dict[str, Any], path: PathLike,
                expected: Optional[ModelConfig] = None) -> MLPGraphWJ:
    """The model a checkpoint describes, with its weights loaded (see
    :func:`checked_model_config` for ``expected``)."""
    model = MLPGraphWJ(checked_model_config(state, path, expected))
    load_weights(model, state, path)
    return model


def load_for_inference(path: PathLike,
                       map_location: Union[str, torch.device] = 'cpu'
                       ) -> Tuple[MLPGraphWJ, Dict[str, Any]]:
    """``(model in eval mode, model config dict)`` from a checkpoint."""
    state = load_checkpoint(path, map_location)
    model = build_model(state, path).to(map_location).eval()
    return model, dict(state['model_config'])


#: What a checkpoint argument should name.
CHECKPOINT_EXPECTED = "a checkpoint file written by train (best.pt, last.pt)"


def check_checkpoint_file(path: PathLike, what: str = 'checkpoint') -> None:
    """:func:`refuse_special_file` for a checkpoint argument."""
    refuse_special_file(path, what, CHECKPOINT_EXPECTED)

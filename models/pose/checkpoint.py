"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain Python values saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``, so a file
from an untrusted source cannot run code. Writing goes to a temporary file
in the same directory that replaces the target only once complete: a crash
or a full disk never leaves a truncated ``last.pt`` or ``best.pt`` behind.
"""
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from models.pose.io_utils import atomic_write
from models.pose.model import MLPGraphWJ, ModelConfig

FORMAT = 'pyg-wj-pose-checkpoint'
VERSION = 1
PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit."""


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
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


def load_checkpoint(path: PathLike,
                    map_location: Union[str, torch.device] = 'cpu'
                    ) -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
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
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"checkpoint {path} is not a readable PyTorch file (truncated or "
            f"corrupt?): {str(err).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f"{path} is not a pyg-wj pose checkpoint "
                              f"(missing format tag {FORMAT!r})")
    if state.get('version') != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version "
                              f"{state.get('version')}, expected {VERSION}")
    for key in ('model', 'model_config'):
        if key not in state:
            raise CheckpointError(f"checkpoint {path} lacks the key {key!r}")
    return state


def build_model(state: Dict[str, Any], path: PathLike,
                expected: Optional[ModelConfig] = None) -> MLPGraphWJ:
    """The model a checkpoint describes, with its weights loaded.

    With ``expected`` given, a checkpoint of another architecture (preset,
    joint count, variant) is refused with the differences spelled out.
    """
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
    model = MLPGraphWJ(config)
    try:
        model.load_state_dict(state['model'])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit the model it "
                              f"describes: {str(err).splitlines()[0]}") \
            from None
    return model


def load_for_inference(path: PathLike,
                       map_location: Union[str, torch.device] = 'cpu'
                       ) -> Tuple[MLPGraphWJ, Dict[str, Any]]:
    """``(model in eval mode, model config dict)`` from a checkpoint."""
    state = load_checkpoint(path, map_location)
    model = build_model(state, path).to(map_location).eval()
    return model, dict(state['model_config'])

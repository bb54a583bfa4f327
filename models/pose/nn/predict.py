"""The one batched forward pass of a trained model: root-relative poses of
batches of windows, with optional flip test-time averaging.

The evaluation (:func:`models.pose.evaluate.scoring.predict_windows`) and
the offline inference (:func:`models.pose.infer.lift.infer_poses`) both run
the model through :func:`predict_root_relative`.
"""
from typing import Iterable, List, Optional, Sequence

import torch
from torch import nn

from models.pose.data.windows import flip_poses


@torch.no_grad()
def predict_root_relative(model: nn.Module, batches: Iterable,
                          device: torch.device,
                          flip_permutation: Optional[Sequence[int]] = None,
                          bf16: bool = False) -> List[torch.Tensor]:
    """The model's poses for batches of windows, root-relative.

    The model is switched to eval mode for the call (dropout off, BatchNorm
    on its running statistics) and back to its previous mode afterwards.

    Args:
        model: maps float32 ``[B, T, J, 2]`` normalized 2D windows to
            ``[B, J, 3]`` poses (the centre frame's).
        batches: ``[B, T, J, 2]`` arrays or tensors, moved to ``device``.
        device: where the model runs.
        flip_permutation: if given, every prediction is averaged with the
            un-flipped prediction of the horizontally flipped input (flip
            test-time augmentation,
            :func:`~models.pose.data.windows.flip_poses` with this
            left/right permutation).
        bf16: run under bfloat16 autocast.

    Returns:
        One float32 CPU tensor ``[B, J, 3]`` per batch, the root joint at
        exactly zero (the model's root output is near zero, not zero).
    """
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for batch in batches:
            batch = torch.as_tensor(batch, device=device)
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                pred = model(batch).float()
                _check_output(pred, batch)
                if flip_permutation is not None:
                    flipped = model(flip_poses(batch, flip_permutation))
                    pred = 0.5 * (pred + flip_poses(flipped.float(),
                                                    flip_permutation))
            outputs.append((pred - pred[:, :1]).cpu())
    finally:
        model.train(was_training)
    return outputs


def _check_output(pred: torch.Tensor, batch: torch.Tensor) -> None:
    expected = (batch.shape[0], batch.shape[2], 3)
    if tuple(pred.shape) != expected:
        raise ValueError(
            f"the model returned shape {tuple(pred.shape)} for input "
            f"{tuple(batch.shape)}; expected {expected}: does its "
            f"'frames'/'joints' config match?")

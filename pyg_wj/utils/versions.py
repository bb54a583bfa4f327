"""What keys a cache of values derived from parameters (packed weights,
Jacobi operators, the pose model's folded eval path).

A tensor's version counter (``Tensor._version``) sees most in-place
updates, but PyTorch 2.13 makes two kinds without bumping it: the fused
optimizer kernels (``torch.optim.Adam(fused=True)``, which the pose model
trains with) and BatchNorm's running statistics in a training-mode
forward. A cache keyed on the version alone would then serve the weights
of before the step. So every key also holds :func:`generation`, a counter
that every optimizer step bumps (a global post-step hook) and that callers
bump with :func:`invalidate` where state changes behind the counter (a
model's ``train()``/``eval()``, around which BatchNorm statistics move).
``tests/utils/test_versions.py`` pins both PyTorch behaviours, so an
upgrade that changes them shows.
"""
from typing import Tuple

from torch import Tensor
from torch.optim.optimizer import register_optimizer_step_post_hook

_generation = 0


def generation() -> int:
    """The current generation: it changes whenever an optimizer stepped or
    :func:`invalidate` was called since."""
    return _generation


def invalidate(*_args, **_kwargs) -> None:
    """Mark every cached derived value stale (the arguments are ignored,
    so this can be a hook)."""
    global _generation
    _generation += 1


def tensor_state(tensor: Tensor) -> Tuple:
    """The parts of a tensor a derived value depends on: the object, its
    version counter, storage, dtype, shape and strides, and the
    generation."""
    return (id(tensor), tensor._version, tensor.data_ptr(), tensor.dtype,
            tuple(tensor.shape), tensor.stride(), _generation)


register_optimizer_step_post_hook(invalidate)

"""Errors of a training run that end the command with one ``error:`` line."""


class NonFiniteLossError(RuntimeError):
    """Training diverged: too many consecutive non-finite steps, or weights
    that overflowed."""

"""SIGINT and SIGTERM during training: a request to stop, not a death."""
import signal
from typing import Optional


class StopSignals:
    """Turns SIGINT/SIGTERM into a flag checked between steps, so the run
    can save a final checkpoint instead of dying mid-write. ``requested``
    is the signal's name once one arrived."""

    def __init__(self):
        self.requested: Optional[str] = None
        self._previous = {}

    def __enter__(self) -> 'StopSignals':
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

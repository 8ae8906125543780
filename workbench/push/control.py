"""Pause, resume and cancel a running push from another thread (a notebook button, a signal)."""

from __future__ import annotations

import threading


class PushController:
    """Thread-safe switches that a push checks between studies.

    A study that has started always finishes (uploaded, confirmed and shared, or
    failed); pausing or cancelling takes effect before the next one.

    Examples
    --------
    >>> control = PushController()
    >>> control.pause(); control.paused
    True
    >>> control.resume(); control.paused
    False
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._waiting = False

    def pause(self) -> None:
        """Hold the push before its next study."""
        with self._condition:
            self._paused = True

    def resume(self) -> None:
        """Let a paused push go on."""
        with self._condition:
            self._paused = False
            self._condition.notify_all()

    def cancel(self) -> None:
        """Stop the push before its next study (also ends a pause)."""
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()

    @property
    def paused(self) -> bool:
        with self._condition:
            return self._paused

    @property
    def cancelled(self) -> bool:
        with self._condition:
            return self._cancelled

    @property
    def waiting(self) -> bool:
        """True while the push is held by :meth:`pause`."""
        with self._condition:
            return self._waiting

    def checkpoint(self) -> bool:
        """Block while paused; return False when cancelled (called by the push loop)."""
        with self._condition:
            try:
                while self._paused and not self._cancelled:
                    self._waiting = True
                    self._condition.wait()
            finally:
                self._waiting = False
            return not self._cancelled

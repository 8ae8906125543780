"""Fault-injection switches of the sandbox, set from Python by tests (``server.faults``)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Rule:
    countdown: int
    pattern: str | None
    status: int = 0
    after_bytes: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.pattern is None or re.search(self.pattern, f"{method} {path}") is not None


class Faults:
    """Switches that make the sandbox misbehave like a real site or proxy.

    Patterns are regular expressions searched in ``"<METHOD> <path>"``, for example
    ``"POST /data/services/import"`` or just ``"/files/"``. Counting starts when the
    rule is added and only matching requests count.

    Attributes
    ----------
    site_anonymization
        When true, imported DICOM files are rewritten as XNAT's default site anonymization
        script does: Patient Name := subject label, Patient ID := session label, Study
        Description := project ID. Pixel data is untouched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Rule] = []
        self._cuts: list[_Rule] = []
        self.site_anonymization = False

    def fail_request(self, nth: int = 1, status: int = 500, pattern: str | None = None) -> None:
        """Answer the ``nth`` next (matching) request with ``status`` instead of handling it."""
        if nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._failures.append(_Rule(nth, pattern, status=status))

    def cut_body(self, after_bytes: int = 0, nth: int = 1, pattern: str | None = None) -> None:
        """Drop the connection of the ``nth`` next (matching) request that has a body.

        The server reads ``after_bytes`` bytes of the body, then closes the socket without
        answering, like a proxy or network failing mid-upload.
        """
        if nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._cuts.append(_Rule(nth, pattern, after_bytes=after_bytes))

    def reset(self) -> None:
        """Clear all pending faults and switch site anonymization off."""
        with self._lock:
            self._failures.clear()
            self._cuts.clear()
        self.site_anonymization = False

    @property
    def pending(self) -> int:
        """Number of injected failures and cuts not triggered yet."""
        with self._lock:
            return len(self._failures) + len(self._cuts)

    def take_failure(self, method: str, path: str) -> int | None:
        """Count a request; return the status to fail it with, if a rule fires."""
        return self._take(self._failures, method, path, lambda rule: rule.status)

    def take_cut(self, method: str, path: str) -> int | None:
        """Count a request with a body; return the byte count to cut it at, if a rule fires."""
        return self._take(self._cuts, method, path, lambda rule: rule.after_bytes)

    def _take(self, rules: list[_Rule], method: str, path: str,
              value: Callable[[_Rule], int]) -> int | None:
        fired = None
        with self._lock:
            for rule in list(rules):
                if rule.matches(method, path):
                    rule.countdown -= 1
                    if rule.countdown == 0:
                        rules.remove(rule)
                        if fired is None:
                            fired = value(rule)
        return fired

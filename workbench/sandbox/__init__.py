"""Sandbox XNAT: a small XNAT stand-in for tests, demos and Binder (not a home for real data).

It answers the REST API that unmodified xnatpy 0.8 and pyxnat 1.6 use: login and
sessions, projects, subjects, experiments, scans, resources and files, DICOM import with
XNAT's session-building rules, the prearchive, sharing, per-project roles, and fault
switches for tests. State lives in a data folder and survives restarts.

Run it with ``python -m workbench.sandbox --data DIR --port 8080 --user NAME:PASSWORD``
or from Python with :class:`SandboxServer`.
"""

from .faults import Faults
from .server import SandboxServer, main
from .store import SandboxError

__all__ = ["Faults", "SandboxError", "SandboxServer", "main"]

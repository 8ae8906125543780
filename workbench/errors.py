"""One exception hierarchy; every message says what happened and what to do.

The command line prints the message of a :class:`WorkbenchError` as one line and
exits non-zero, with no traceback; a notebook shows the same line. ``path``,
``study`` and ``kind`` say where and what, for scripts and tables, so nobody
parses the message again.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for errors the user can act on.

    Attributes
    ----------
    path
        The file or folder it is about, if one.
    study
        The (source) Study Instance UID it is about, if one.
    kind
        A short label of what went wrong (the class's own unless given).
    """

    kind = "error"

    def __init__(self, message: str, *, path: str | None = None, study: str | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message)
        self.path, self.study = path, study
        if kind is not None:
            self.kind = kind


class ProfileError(WorkbenchError):
    """A profile is missing, malformed or names an unknown attribute or option."""

    kind = "profile"


class OutputConflict(WorkbenchError):
    """An output folder or file already holds different content."""

    kind = "output conflict"


class StoreError(WorkbenchError):
    """The local state database cannot be used as asked."""

    kind = "store"


class ReviewError(WorkbenchError):
    """A review table cannot be built from what was given."""

    kind = "review"


class Unviewable(WorkbenchError):
    """A frame cannot be shown; the message says why."""

    kind = "unviewable"


class PushError(WorkbenchError):
    """The push cannot start or go on: bad settings, no server, login refused."""

    kind = "push"


class FileChanged(WorkbenchError):
    """A file changed between its verification and its leaving the site."""

    kind = "changed after verification"


class BatchError(WorkbenchError):
    """A batch cannot start, or stopped before the end (the record says how far it got)."""

    kind = "batch"


class ResumeMismatch(WorkbenchError):
    """A resumed run would pseudonymise differently from the run that wrote the output."""

    kind = "resume mismatch"


class ApprovalError(WorkbenchError):
    """A study cannot be approved or rejected as asked."""

    kind = "approval"


class DamagedFile(WorkbenchError):
    """A file that cannot be read whole: cut short, or not as its header says."""

    kind = "unreadable"


class TruncatedFile(DamagedFile):
    """A file that ends before its last element does."""

    kind = "truncated"


class HeaderRefused(DamagedFile):
    """A header not parsed (over a limit, or damaged); the message is the whole reason."""

    kind = "header refused"

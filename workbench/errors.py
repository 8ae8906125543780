"""One exception hierarchy; every message says what happened and what to do."""


class WorkbenchError(Exception):
    """Base class for errors the user can act on."""


class ProfileError(WorkbenchError):
    """A profile is missing, malformed or names an unknown attribute or option."""


class LookupMissing(WorkbenchError):
    """A study's key is not in the trial's lookup table."""


class OutputConflict(WorkbenchError):
    """An output folder or file already holds different content."""


class StoreError(WorkbenchError):
    """The local state database cannot be used as asked."""

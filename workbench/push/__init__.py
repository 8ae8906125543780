"""Push verified outputs to a destination (the trial's XNAT): confirmed, resumable, with receipts.

Only studies a person approved, whose every file the de-identification core
verified (and that have not changed since), leave the site. Every destination
implements :class:`~workbench.push.destination.Destination`; build one with
:func:`destination_for`.
"""

from __future__ import annotations

import os

from ..errors import PushError
from ..profile import Profile
from ..store import Store
from .control import PushController
from .destination import Destination, Planned, plan
from .result import PushResult, StudyOutcome
from .xnat import Target, XnatPusher, push_studies

#: Destination kinds and their classes; ``dicom`` (C-STORE) and ``folder`` come next.
KINDS: dict[str, type[Destination]] = {"xnat": XnatPusher}


def destination_for(kind: str, out: str | os.PathLike, profile: str | os.PathLike | Profile, *,
                    store: Store, **options) -> Destination:
    """The destination of ``kind`` for the output ``out``; ``options`` go to its class.

    Examples
    --------
    >>> destination_for("xnat", "out", "uk-pet-core-lab", store=Store("state.sqlite"),
    ...                 url="http://127.0.0.1:8080").push()             # doctest: +SKIP
    """
    if kind not in KINDS:
        raise PushError(f"unknown destination {kind!r}: one of {', '.join(KINDS)}.")
    return KINDS[kind](out, profile, store=store, **options)


__all__ = ["Destination", "KINDS", "Planned", "PushController", "PushError", "PushResult",
           "StudyOutcome", "Target", "XnatPusher", "destination_for", "plan", "push_studies"]

"""Push a batch's verified studies to their destination, each one once.

Only studies whose every selected file was verified (state ``verified``), never
pushed before and not held are candidates, and of those only the approved ones
go: a person's approval (``workbench approve``), or the batch's own when its
``approve`` parameter says so. Before anything leaves, every candidate's output
folder is checked against the store's verified outputs; if any file there was
not verified (or changed since), nothing is pushed and the run stops with the
list. A confirmed push is written to the ledger, so a later run never pushes
the study again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..approval import APPROVED, sign
from ..profile import Profile
from ..push import destination_for, plan
from ..push.destination import REFUSED
from ..push.result import HELD
from ..store import Store
from ..errors import BatchError
from .ledger import VERIFIED, Entry, Ledger
from .settings import BatchSettings

PUSHED, EARLIER, DRY_RUN, PUSH_FAILED, WAITING = (
    "pushed", "pushed earlier", "would push (dry run)", "push failed", "waiting for approval")


@dataclass
class Pushed:
    """What the push did with one study."""

    status: str  # one of PUSHED, EARLIER, DRY_RUN, PUSH_FAILED, WAITING
    session: str = ""
    reason: str = ""


def release(settings: BatchSettings, profile: Profile, store: Store, ledger: Ledger,
            entries: dict[str, Entry], progress: bool, run_id: str) -> dict[str, Pushed]:
    """Push the approved candidates among ``entries`` (by source UID); updates ``entries``."""
    found = {uid: Pushed(EARLIER, e.pushed) for uid, e in entries.items() if e.pushed}
    if settings.destination == "none":
        return found
    wanted = {e.output: uid for uid, e in entries.items()
              if e.state == VERIFIED and not e.pushed and not e.flag and e.output}
    if not wanted:
        return found
    out = Path(settings.output)
    if settings.approve:
        sign(store, profile.trial_key, out, sorted(wanted), APPROVED, by=f"batch {run_id}",
             note="approved by the batch's approve parameter")
    local = {p.study.name: p for p in plan(out, profile, store)}
    refused = [f"{key}: {local[key].reason if key in local else 'no such folder'}"
               for key in sorted(wanted) if key not in local or local[key].action == REFUSED]
    if refused:
        raise BatchError(f"nothing pushed: {len(refused)} study folder(s) hold files that were "
                         "not verified: " + "; ".join(refused[:5]))
    for key in [k for k in wanted if local[k].action == HELD]:
        found[wanted.pop(key)] = Pushed(WAITING, "", local[key].reason)
    if settings.dry_run or not wanted:
        found.update({uid: Pushed(DRY_RUN) for uid in wanted.values()})
        return found
    def confirmed(outcome) -> None:  # each study as soon as the server confirms it
        uid = wanted[outcome.study]
        if outcome.done:
            session = f"{outcome.project}/{outcome.session_label}"
            entries[uid] = replace(entries[uid], pushed=session)
            ledger.put([entries[uid]])
            found[uid] = Pushed(PUSHED, session)
        else:
            found[uid] = Pushed(PUSH_FAILED, "", outcome.reason)

    destination = destination_for(settings.destination, out, profile, store=store,
                                  url=settings.xnat_url or None,
                                  project=settings.xnat_project or None, progress=progress,
                                  on_study=confirmed)
    destination.push(only=sorted(wanted))
    return found

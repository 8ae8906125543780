"""Decide, per study, what a batch run does: do it, redo it, skip it or hold it.

A study is skipped when an earlier run finished it with the same inputs (the
SHA-256 of every source file, the profile hash, the study's lookup row and the
site). A changed study is redone, its old output moved to
``<output>.superseded/<run id>/`` first, unless it was pushed already: then it is
held for a person and neither redone nor pushed again. A study an earlier run
left unfinished (killed, or failed in a worker) is done again in place; files
it wrote already are found identical and kept.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ..deid.pseudonyms import Lookup
from ..profile import Profile
from .ledger import DONE, FAILED, RUNNING, VERIFIED, Entry
from .survey import Study, study_inputs

NEW, REDO, RETRY, SKIP, HOLD = "new", "redo", "retry", "skip", "hold"


@dataclass
class Decision:
    """What this run does with one study, why, and its ledger entry for the run."""

    kind: str  # new | redo | retry | skip | hold
    why: str
    entry: Entry  # with this run's inputs when done now; the earlier entry when not
    supersede: str = ""  # output folder (<subject_id>/<study_dir>) to move away first

    @property
    def todo(self) -> bool:
        return self.kind in (NEW, REDO, RETRY)

    @property
    def action(self) -> str:
        """The decision in a few words, for the run record."""
        return self.kind if not self.why else f"{self.kind}: {self.why}"


def decide(studies: dict[str, Study], entries: dict[str, Entry], out: Path, profile: Profile,
           table: Lookup | None, site: str, run_id: str) -> dict[str, Decision]:
    """A decision for every study of the delivery, by source StudyInstanceUID."""
    found = {}
    for uid, study in studies.items():
        inputs = study_inputs(study, profile, table, site)
        fresh = Entry(uid, inputs, RUNNING, run_id)
        prev = entries.get(uid)
        if prev is None:
            found[uid] = Decision(NEW, "", fresh)
            continue
        changes = "; ".join(inputs.changes(prev.inputs))
        if prev.state in DONE:
            if not changes and prev.state == VERIFIED and not prev.pushed and prev.output \
                    and not (out / prev.output).is_dir():
                found[uid] = Decision(REDO, "its output folder is missing", fresh)
            elif not changes:
                found[uid] = Decision(SKIP, f"done in run {prev.run_id}", replace(prev, flag=""))
            elif prev.pushed:
                flag = f"{changes} after the push to {prev.pushed}; decide in XNAT, not re-pushed"
                found[uid] = Decision(HOLD, flag, replace(prev, flag=flag))
            else:
                found[uid] = Decision(REDO, changes, fresh, supersede=prev.output)
        elif changes:
            found[uid] = Decision(REDO, f"{changes} since run {prev.run_id} stopped", fresh,
                                  supersede=prev.output)
        else:
            why = (f"failed in run {prev.run_id}" if prev.state == FAILED
                   else f"run {prev.run_id} stopped before finishing it")
            found[uid] = Decision(RETRY, why, fresh)
    return found


def superseded_folder(out: Path, run_id: str) -> Path:
    """Where this run moves the old outputs of changed studies (beside the output)."""
    return out.parent / f"{out.name}.superseded" / run_id


def move_away(out: Path, key: str, run_id: str) -> bool:
    """Move the study folder ``out/key`` to the superseded folder; False when absent."""
    folder = out / key
    if not key or not folder.is_dir():
        return False
    target = superseded_folder(out, run_id) / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(target))
    if folder.parent != out and not any(folder.parent.iterdir()):
        folder.parent.rmdir()
    return True


def remove_partials(out: Path, key: str) -> int:
    """Delete half-written files (``.<name>.partial``) a killed run left in ``out/key``."""
    removed = 0
    if not key:
        return removed
    for dirpath, _, names in os.walk(out / key):
        for name in names:
            if name.startswith(".") and name.endswith(".partial"):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed

"""What the batch has done per study, kept in the site's state database.

One row per (trial, output folder, source study): the inputs it was done with
(digest of the source files, profile hash, digest of the lookup row and site),
its state, where its output lies and whether it was pushed. Only the
coordinator writes it, like the rest of the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_studies (
    trial TEXT NOT NULL, out TEXT NOT NULL, study_uid TEXT NOT NULL,
    sources TEXT NOT NULL, files INTEGER NOT NULL, profile_hash TEXT NOT NULL,
    lookup_hash TEXT NOT NULL, state TEXT NOT NULL, output TEXT NOT NULL,
    subject_id TEXT NOT NULL, deidentified INTEGER NOT NULL, quarantined INTEGER NOT NULL,
    detail TEXT NOT NULL,
    outputs_digest TEXT NOT NULL, pushed TEXT NOT NULL, flag TEXT NOT NULL,
    run_id TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (trial, out, study_uid));
"""

RUNNING, VERIFIED, QUARANTINED, NOT_SELECTED, FAILED = (
    "running", "verified", "quarantined", "not selected", "failed")
#: States of a study whose inputs were handled to the end (re-running would change nothing).
DONE = frozenset({VERIFIED, QUARANTINED, NOT_SELECTED})


@dataclass(frozen=True)
class Inputs:
    """What a study's result depends on: its source files, the profile, its lookup row."""

    sources: str  # SHA-256 over the sorted SHA-256 digests of the study's files
    files: int
    profile_hash: str
    lookup_hash: str  # SHA-256 of the study's lookup row and the site parameter

    def changes(self, other: Inputs) -> list[str]:
        """What differs from ``other``, in words (empty when nothing does)."""
        found = []
        if self.sources != other.sources:
            found.append(f"source files changed ({other.files} -> {self.files} file(s))"
                         if self.files != other.files else "source files changed")
        if self.profile_hash != other.profile_hash:
            found.append("profile changed")
        if self.lookup_hash != other.lookup_hash:
            found.append("lookup row or site changed")
        return found


@dataclass
class Entry:
    """One study's row in the ledger."""

    study_uid: str
    inputs: Inputs
    state: str
    run_id: str
    output: str = ""  # <subject_id>/<study_dir> under the output folder, "" when none
    subject_id: str = ""
    deidentified: int = 0  # output files verified
    quarantined: int = 0
    detail: str = ""
    outputs_digest: str = ""  # SHA-256 over the sorted "<path> <sha256>" lines of its outputs
    pushed: str = ""  # "<project>/<session>" once confirmed on the server
    flag: str = ""  # why a person must look at it (inputs changed after the push)


class Ledger:
    """The batch rows of one trial and output folder in ``store``."""

    def __init__(self, store: Store, trial: str, out: str) -> None:
        self.store, self.trial, self.out = store, trial, out
        with store.db:
            store.db.executescript(SCHEMA)

    def entries(self) -> dict[str, Entry]:
        """Every study the batch has met in this output folder, by source StudyInstanceUID."""
        cur = self.store.db.execute(
            "SELECT study_uid, sources, files, profile_hash, lookup_hash, state, run_id, output, "
            "subject_id, deidentified, quarantined, detail, outputs_digest, pushed, flag "
            "FROM batch_studies WHERE trial=? AND out=?", (self.trial, self.out))
        found = {}
        for (uid, sources, files, profile_hash, lookup_hash, state, run_id, *rest) in cur:
            found[uid] = Entry(uid, Inputs(sources, files, profile_hash, lookup_hash), state,
                               run_id, *rest)
        return found

    def put(self, entries: list[Entry]) -> None:
        """Insert or replace rows, in one transaction."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = []
        for e in entries:
            i = e.inputs
            rows.append((self.trial, self.out, e.study_uid, i.sources, i.files, i.profile_hash,
                         i.lookup_hash, e.state, e.output, e.subject_id, e.deidentified,
                         e.quarantined, e.detail, e.outputs_digest, e.pushed, e.flag, e.run_id,
                         now))
        with self.store.db:
            self.store.db.executemany(
                "INSERT OR REPLACE INTO batch_studies VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def audit(self, event: str, detail: dict) -> None:
        self.store.audit(self.trial, event, detail)


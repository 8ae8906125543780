"""A delivery's files as one run sees them, kept on disk rather than in memory.

Each file's catalog record (and, in a batch, its SHA-256), and later what
happened to it, go into a private temporary SQLite database that is deleted
when the run lets go of it. The coordinator reads them back study by study, so
its memory does not grow with the number of files in a delivery. The records
hold source paths and patient names: SQLite keeps them in memory up to a small
cache and beyond it in a temporary file that has no name (on Unix it is
unlinked as soon as it is opened), so nothing is left behind after a crash.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Iterable, Iterator

from ..catalog import Instance, Skipped

INSTANCE = "instance"
_COLUMNS = [f.name for f in fields(Instance)]
_SELECT = ", ".join(_COLUMNS)
_values = attrgetter(*_COLUMNS)  # dataclasses.astuple deep-copies every value: slow
SCHEMA = f"""
CREATE TABLE files (n INTEGER PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL,
    digest TEXT NOT NULL, planned INTEGER NOT NULL DEFAULT 0, {", ".join(_COLUMNS)});
CREATE TABLE outcomes (n INTEGER PRIMARY KEY, source TEXT NOT NULL, study_uid TEXT NOT NULL,
    state TEXT NOT NULL, output TEXT, reason TEXT, study_uid_out TEXT NOT NULL,
    sop_uid_out TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL, kind TEXT NOT NULL);
"""
#: Rows written per transaction.
BATCH = 1000


@dataclass(slots=True)
class Outcome:
    """What happened to one file.

    ``digest`` is the SHA-256 of the output the verifier passed; ``kind`` says what held
    a quarantined file: unreadable, no PatientID, conflict, no subject ID,
    de-identification failed, verification failed, needs pixel review, output exists,
    internal error or worker failed.
    """

    source: str
    study_uid: str
    state: str  # written | unchanged | quarantined
    output: str | None = None
    reason: str | None = None
    study_uid_out: str = ""
    sop_uid_out: str = ""
    size: int = 0
    mtime_ns: int = 0
    digest: str = ""
    kind: str = ""


_outcome_values = attrgetter(*(f.name for f in fields(Outcome)))


class Delivery:
    """The files of one run: catalog records in file order, then their outcomes."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # a private database on disk, deleted when closed
        self.db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
                              "PRAGMA cache_size = -256;" + SCHEMA)
        self._files: list[tuple] = []
        self._outcomes: list[tuple] = []

    # -- catalog -----------------------------------------------------------------------
    def add(self, record: Instance | Skipped, digest: str = "") -> None:
        """Add one file's catalog record (and its SHA-256)."""
        if isinstance(record, Instance):
            row = (INSTANCE, "", digest, *_values(record))
        else:
            row = (record.kind, record.reason, digest, record.path) + (None,) * (len(_COLUMNS) - 1)
        self._files.append(row)
        if len(self._files) >= BATCH:
            self._flush_files()

    def add_all(self, records: Iterable[tuple[Instance | Skipped, str]]) -> None:
        """Add ``(record, SHA-256)`` pairs (the digest "" when not hashed), all stored on return."""
        for record, digest in records:
            self.add(record, digest)
        self._flush_files()

    def _flush_files(self) -> None:
        if self._files:
            marks = ",".join("?" * (len(_COLUMNS) + 3))
            with self.db:
                self.db.executemany(f"INSERT INTO files (kind, reason, digest, {_SELECT}) "
                                    f"VALUES ({marks})", self._files)
            self._files.clear()

    def records(self) -> Iterator[tuple[int, Instance | Skipped]]:
        """``(n, record)`` for every file, in file order."""
        self._flush_files()
        for n, kind, reason, *values in self.db.execute(
                f"SELECT n, kind, reason, {_SELECT} FROM files ORDER BY n"):
            yield n, Instance(*values) if kind == INSTANCE else Skipped(values[0], kind, reason)

    def instances(self, where: str = "", params: tuple = ()) -> Iterator[Instance]:
        """Instances (optionally ``WHERE`` some condition on the columns), in file order."""
        self._flush_files()
        query = f"SELECT {_SELECT} FROM files WHERE kind = '{INSTANCE}'"
        for values in self.db.execute(query + (f" AND ({where})" if where else "")
                                      + " ORDER BY n", params):
            yield Instance(*values)

    def query(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """Run ``sql`` on the ``files`` and ``outcomes`` tables."""
        self._flush_files()
        self._flush_outcomes()
        return self.db.execute(sql, params)

    def set_planned(self, numbers: Iterable[int], planned: bool) -> None:
        """Mark files (by ``n``) as planned for de-identification, or not."""
        with self.db:
            self.db.executemany("UPDATE files SET planned = ? WHERE n = ?",
                                ((int(planned), n) for n in numbers))

    # -- outcomes ----------------------------------------------------------------------
    def add_outcome(self, outcome: Outcome) -> None:
        self._outcomes.append(_outcome_values(outcome))
        if len(self._outcomes) >= BATCH:
            self._flush_outcomes()

    def _flush_outcomes(self) -> None:
        if self._outcomes:
            with self.db:
                self.db.executemany(
                    "INSERT INTO outcomes (source, study_uid, state, output, reason, "
                    "study_uid_out, sop_uid_out, size, mtime_ns, digest, kind) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)", self._outcomes)
            self._outcomes.clear()

    def outcomes(self, state: str | None = None) -> Iterator[Outcome]:
        """The outcomes so far, in the order they came (only those in ``state`` if given)."""
        self._flush_outcomes()
        query = ("SELECT source, study_uid, state, output, reason, study_uid_out, sop_uid_out, "
                 "size, mtime_ns, digest, kind FROM outcomes")
        cursor = (self.db.execute(query + " WHERE state = ? ORDER BY n", (state,)) if state
                  else self.db.execute(query + " ORDER BY n"))
        for row in cursor:
            yield Outcome(*row)

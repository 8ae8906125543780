"""The site's local state database (SQLite).

Holds each trial's secret, the linkage key (original patient ID and name to
pseudonym), date offsets, study states and an append-only audit log. It
never goes inside an output folder and nothing from it is written into an
output.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from platformdirs import user_data_dir

from .errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial TEXT PRIMARY KEY, secret TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    trial TEXT NOT NULL, key_field TEXT NOT NULL, key_value TEXT NOT NULL,
    patient_id TEXT, patient_name TEXT, subject_id TEXT NOT NULL, method TEXT NOT NULL,
    created TEXT NOT NULL, PRIMARY KEY (trial, key_field, key_value));
CREATE TABLE IF NOT EXISTS date_offsets (
    trial TEXT NOT NULL, patient_id TEXT NOT NULL, offset_days INTEGER NOT NULL,
    PRIMARY KEY (trial, patient_id));
CREATE TABLE IF NOT EXISTS studies (
    trial TEXT NOT NULL, study_uid TEXT NOT NULL, new_study_uid TEXT, subject_id TEXT,
    state TEXT NOT NULL, files INTEGER, quarantined INTEGER, detail TEXT, profile_hash TEXT,
    updated TEXT NOT NULL, PRIMARY KEY (trial, study_uid));
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY, trial TEXT NOT NULL, study_uid TEXT NOT NULL, sop_uid TEXT NOT NULL,
    subject_id TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    profile_hash TEXT NOT NULL, verified TEXT NOT NULL, sha256 TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS output_settings (
    out TEXT PRIMARY KEY, trial TEXT NOT NULL, secret_fingerprint TEXT NOT NULL,
    profile TEXT NOT NULL, profile_hash TEXT NOT NULL, site TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS output_lookup_rows (
    out TEXT NOT NULL, key_field TEXT NOT NULL, key_value TEXT NOT NULL, digest TEXT NOT NULL,
    columns TEXT NOT NULL, PRIMARY KEY (out, key_field, key_value));
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, trial TEXT, event TEXT NOT NULL,
    detail TEXT);
CREATE TABLE IF NOT EXISTS sign_offs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, trial TEXT NOT NULL,
    study_uid TEXT NOT NULL, subject_id TEXT, reviewer TEXT NOT NULL, verdict TEXT NOT NULL,
    note TEXT NOT NULL, outputs_digest TEXT NOT NULL DEFAULT '');
CREATE TRIGGER IF NOT EXISTS sign_offs_no_update BEFORE UPDATE ON sign_offs
    BEGIN SELECT RAISE(ABORT, 'sign-offs are append-only: sign off again instead'); END;
CREATE TRIGGER IF NOT EXISTS sign_offs_no_delete BEFORE DELETE ON sign_offs
    BEGIN SELECT RAISE(ABORT, 'sign-offs are append-only: sign off again instead'); END;
CREATE TABLE IF NOT EXISTS scan_flags (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, trial TEXT NOT NULL,
    study TEXT NOT NULL, series TEXT NOT NULL, flag TEXT NOT NULL, reviewer TEXT NOT NULL,
    note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS scan_flags_no_update BEFORE UPDATE ON scan_flags
    BEGIN SELECT RAISE(ABORT, 'flags are append-only: flag the scan again instead'); END;
CREATE TRIGGER IF NOT EXISTS scan_flags_no_delete BEFORE DELETE ON scan_flags
    BEGIN SELECT RAISE(ABORT, 'flags are append-only: flag the scan again instead'); END;
CREATE TABLE IF NOT EXISTS protocol_checks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, trial TEXT NOT NULL,
    study_uid TEXT NOT NULL, protocol TEXT NOT NULL, result TEXT NOT NULL, failed TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS protocol_checks_no_update BEFORE UPDATE ON protocol_checks
    BEGIN SELECT RAISE(ABORT, 'protocol checks are append-only: check again instead'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


VERDICTS = ("approved", "rejected")
"""What a reviewer may say about a de-identified study in :meth:`Store.sign_off`."""

QUALITY = ("usable", "questionable", "unusable")
"""What a reviewer may say about one scan (series) in :meth:`Store.flag_scan`; XNAT's
scan quality values."""


def default_path() -> Path:
    """Per-user default location (``WORKBENCH_STORE`` overrides it)."""
    env = os.environ.get("WORKBENCH_STORE")
    return Path(env) if env else Path(user_data_dir("workbench")) / "workbench.sqlite"


def digest_outputs(outputs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the sorted ``<path> <sha256>`` lines of verified outputs ("" for none)."""
    lines = sorted(f"{path} {sha}\n" for path, sha in outputs)
    return hashlib.sha256("".join(lines).encode()).hexdigest() if lines else ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_to_others(path: str | os.PathLike) -> int | None:
    """The permission bits of ``path`` when other users may open it; None when only its
    owner may, or when it does not exist."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 else None


class Store:
    """Open (creating if needed) the state database at ``path``."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        try:
            if not self.path.parent.exists():
                self.path.parent.mkdir(mode=0o700, parents=True)
            if not self.path.exists():  # the trial secret and linkage key: the owner's only
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # refused here, not at its first write in the middle of a run (SQLite writes a
            # journal beside it, so its folder must be writable too)
            for place in (self.path, self.path.parent):
                if not os.access(place, os.W_OK):
                    raise PermissionError(f"{place} is read-only for this user")
            # A notebook app's buttons call back on the kernel's other threads: share the
            # connection across threads where SQLite is built serialized (threadsafety 3).
            self.db = sqlite3.connect(self.path, check_same_thread=sqlite3.threadsafety < 3)
            self.db.executescript(f"BEGIN; {SCHEMA} COMMIT;")  # one transaction: one sync
            self._add_column("outputs", "sha256")  # stores made before these were recorded
            self._add_column("sign_offs", "outputs_digest")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state database {self.path} for writing: {exc}; "
                             "fix its permissions (and its folder's), or pass --store with a "
                             "writable path.", path=str(self.path)) from exc

    def _add_column(self, table: str, column: str) -> None:
        """Add a text column (default "") to a table of a store made before it existed."""
        if column not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
            with self.db:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL "
                                "DEFAULT ''")

    def exposure(self) -> str | None:
        """A warning when other users of this machine can read the store, else None."""
        mode = open_to_others(self.path)
        if mode is not None:
            return (f"warning: the state database {self.path} (trial secrets, linkage key) is "
                    f"readable by other users (mode {mode:o}); run chmod 600 on it.")
        return None

    def close(self) -> None:
        self.db.close()

    # -- trial secret -------------------------------------------------------------
    def trial_secret(self, trial: str, create: bool = True) -> bytes:
        """The trial's secret, created (random, 256 bits) on first use."""
        row = self.db.execute("SELECT secret FROM trials WHERE trial=?", (trial,)).fetchone()
        if row:
            return bytes.fromhex(row[0])
        if not create:
            raise StoreError(f"the state database {self.path} holds no secret for trial {trial!r}; "
                             "pass the --store used for de-identification or --trial-secret-file.")
        secret = secrets.token_bytes(32)
        with self.db:
            self.db.execute("INSERT INTO trials VALUES (?,?,?)", (trial, secret.hex(), _now()))
        self.audit(trial, "secret-created", {})
        return secret

    # -- linkage ------------------------------------------------------------------
    def pseudonyms(self, trial: str, key_field: str) -> dict[str, str]:
        rows = self.db.execute("SELECT key_value, subject_id FROM subjects WHERE trial=? AND "
                               "key_field=?", (trial, key_field))
        return dict(rows.fetchall())

    def add_pseudonyms(self, trial: str, key_field: str, method: str,
                       rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Record (key_value, patient_id, patient_name, subject_id) links, keeping old ones."""
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO subjects VALUES (?,?,?,?,?,?,?,?)",
                [(trial, key_field, k, pid, name, sid, method, _now()) for k, pid, name, sid in rows])

    def subject_links(self, trial: str, key_field: str) -> dict[str, tuple[str, str]]:
        """Key value -> (subject ID, method) of the trial's links."""
        rows = self.db.execute("SELECT key_value, subject_id, method FROM subjects WHERE "
                               "trial=? AND key_field=?", (trial, key_field))
        return {k: (sid, method) for k, sid, method in rows.fetchall()}

    def set_manual_subjects(self, trial: str, key_field: str,
                            rows: Iterable[tuple[str, str, str, str]],
                            shared_ids: bool = False) -> int:
        """Record or correct (key_value, patient_id, patient_name, subject_id) links entered
        by hand (method ``manual``); returns how many changed. A manual link takes the new
        ID; a link a lookup, hash or sequence made is kept (refused if the ID differs), and
        an ID another key holds is refused unless ``shared_ids``."""
        rows = list(rows)
        held = self.subject_links(trial, key_field)
        owners = {sid: k for k, (sid, _) in held.items()}
        changed = []
        for k, pid, name, sid in rows:
            old = held.get(k)
            if old and old[0] == sid:
                continue
            if old and old[1] != "manual":
                raise StoreError(f"{key_field} {k!r} is already linked to {old[0]!r} (by "
                                 f"{old[1]}); that link is kept, so {sid!r} was not saved.")
            if not shared_ids and owners.get(sid, k) != k:
                raise StoreError(f"subject ID {sid!r} is already {key_field} "
                                 f"{owners[sid]!r}'s; give {key_field} {k!r} its own ID.")
            owners[sid] = k
            changed.append((trial, key_field, k, pid, name, sid, "manual", _now()))
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO subjects VALUES (?,?,?,?,?,?,?,?)",
                                changed)
        if changed:
            self.audit(trial, "subject-ids-entered", {"links": len(changed)})
        return len(changed)

    def date_offsets(self, trial: str) -> dict[str, int]:
        rows = self.db.execute("SELECT patient_id, offset_days FROM date_offsets WHERE trial=?",
                               (trial,))
        return dict(rows.fetchall())

    def add_date_offsets(self, trial: str, offsets: dict[str, int]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO date_offsets VALUES (?,?,?)",
                                [(trial, k, v) for k, v in offsets.items()])

    # -- studies and audit ----------------------------------------------------------
    def set_studies(self, trial: str, rows: Iterable[tuple]) -> None:
        """Record studies in one transaction: (study UID, new study UID, subject ID, state,
        files, quarantined, detail, profile hash)."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO studies VALUES (?,?,?,?,?,?,?,?,?,?)",
                                [(trial, *row, _now()) for row in rows])

    def record_outputs(self, trial: str, profile_hash: str, rows: Iterable[tuple]) -> None:
        """Record verified output files: (path, study UID, SOP UID, subject, size, mtime_ns,
        SHA-256 of the bytes the verifier passed)."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(str(p), trial, st, sop, sid, size, mt, profile_hash, _now(), sha)
                 for p, st, sop, sid, size, mt, sha in rows])

    def verified_outputs(self, trial: str) -> dict[str, dict]:
        """Output files verified at de-identification, by absolute path.

        A file whose size or modification time no longer matches was changed
        after verification and must not be released.
        """
        cur = self.db.execute("SELECT * FROM outputs WHERE trial=?", (trial,))
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}

    def withdraw_outputs(self, trial: str, paths: Iterable[str], detail: dict) -> None:
        """Remove withdrawn files from the verified outputs and record a ``withdrawn``
        audit event (``detail``: the series and its file count), in one transaction."""
        with self.db:
            self.db.executemany("DELETE FROM outputs WHERE trial=? AND path=?",
                                [(trial, str(p)) for p in paths])
            self.db.execute("INSERT INTO audit (at, trial, event, detail) VALUES (?,?,?,?)",
                            (_now(), trial, "withdrawn", json.dumps(detail, sort_keys=True)))

    # -- what each output folder was made with ----------------------------------------
    def output_settings(self, out: str) -> dict | None:
        """The settings recorded for output folder ``out`` (resolved path), or None."""
        cur = self.db.execute("SELECT * FROM output_settings WHERE out=?", (str(out),))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None

    def set_output_settings(self, out: str, trial: str, secret_fingerprint: str, profile: str,
                            profile_hash: str, site: str) -> None:
        """Record (or replace) what output folder ``out`` is made with."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO output_settings VALUES (?,?,?,?,?,?,?)",
                            (str(out), trial, secret_fingerprint, profile, profile_hash, site,
                             _now()))

    def forget_output(self, out: str) -> None:
        """Drop what was recorded for output folder ``out`` (it is new or empty again)."""
        with self.db:
            self.db.execute("DELETE FROM output_settings WHERE out=?", (str(out),))
            self.db.execute("DELETE FROM output_lookup_rows WHERE out=?", (str(out),))

    def output_lookup_rows(self, out: str) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
        """(key field, key value) -> (row digest, column -> value digest) used in ``out``."""
        rows = self.db.execute("SELECT key_field, key_value, digest, columns FROM "
                               "output_lookup_rows WHERE out=?", (str(out),))
        return {(f, k): (d, json.loads(c)) for f, k, d, c in rows.fetchall()}

    def add_output_lookup_rows(self, out: str, rows: Iterable[tuple[str, str, str, dict]],
                               replace: bool = False) -> None:
        """Record (key field, key value, digest, column digests) of lookup rows used in
        ``out``; the first record of a row is kept unless ``replace``."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.db:
            self.db.executemany(f"{verb} INTO output_lookup_rows VALUES (?,?,?,?,?)",
                                [(str(out), f, k, d, json.dumps(c, sort_keys=True))
                                 for f, k, d, c in rows])

    def studies(self, trial: str) -> list[dict]:
        cur = self.db.execute("SELECT * FROM studies WHERE trial=? ORDER BY subject_id", (trial,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    # -- reviewers' sign-off --------------------------------------------------------
    def outputs_digest(self, trial: str, study_uid_out: str) -> str:
        """SHA-256 over the sorted ``<path> <sha256>`` lines of a study's verified outputs
        (by its de-identified StudyInstanceUID); "" when it has none."""
        return digest_outputs(self.db.execute(
            "SELECT path, sha256 FROM outputs WHERE trial=? AND study_uid=?",
            (trial, study_uid_out)).fetchall())

    def sign_off(self, trial: str, study_uid: str, reviewer: str, verdict: str,
                 note: str = "") -> dict:
        """Record a reviewer's verdict on one de-identified study (and in the audit log).

        Sign-offs are append-only: a later sign-off of the same study supersedes
        an earlier one in :meth:`sign_offs` without erasing it. Each binds to the
        study's verified outputs as they are (:meth:`outputs_digest`): an approval
        holds only while they are unchanged (see :mod:`workbench.approval`).

        Parameters
        ----------
        trial
            The trial key (``Profile.trial_key``).
        study_uid
            The study's original or de-identified StudyInstanceUID, as recorded
            by ``workbench deid``.
        reviewer
            Who signs (a name or login; not a patient identifier).
        verdict
            One of :data:`VERDICTS`.
        note
            Free text, e.g. what was looked at or why the study is rejected.

        Returns
        -------
        dict
            The recorded row: seq, at, trial, study_uid (original), subject_id,
            reviewer, verdict, note.

        Raises
        ------
        StoreError
            When the verdict is unknown, the reviewer is blank or the store holds
            no such study for the trial.
        """
        if verdict not in VERDICTS:
            raise StoreError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}.")
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise StoreError("a sign-off needs the reviewer's name; fill in who reviewed.")
        row = self.db.execute("SELECT study_uid, subject_id, new_study_uid FROM studies WHERE "
                              "trial=? AND (study_uid=? OR new_study_uid=?)",
                              (trial, study_uid, study_uid)).fetchone()
        if row is None:
            raise StoreError(f"the state database {self.path} holds no study {study_uid} for "
                             f"trial {trial!r}; sign off studies that workbench deid recorded "
                             "in this store.")
        record = {"at": _now(), "trial": trial, "study_uid": row[0], "subject_id": row[1],
                  "reviewer": reviewer, "verdict": verdict, "note": note or "",
                  "outputs_digest": self.outputs_digest(trial, row[2] or "")}
        with self.db:
            cur = self.db.execute(
                "INSERT INTO sign_offs (at, trial, study_uid, subject_id, reviewer, verdict, note, "
                "outputs_digest) VALUES (:at, :trial, :study_uid, :subject_id, :reviewer, "
                ":verdict, :note, :outputs_digest)", record)
        self.audit(trial, "sign-off", {k: record[k] for k in (
            "study_uid", "subject_id", "reviewer", "verdict", "note", "outputs_digest")})
        return {"seq": cur.lastrowid, **record}

    def sign_offs(self, trial: str, study_uid: str | None = None,
                  latest: bool = False) -> list[dict]:
        """Recorded sign-offs of ``trial``, oldest first.

        Parameters
        ----------
        study_uid
            Only this study (original or de-identified UID).
        latest
            Only the most recent sign-off of each study.
        """
        sql = ("SELECT s.seq, s.at, s.trial, s.study_uid, s.subject_id, s.reviewer, s.verdict, "
               "s.note, s.outputs_digest FROM sign_offs s WHERE s.trial=?")
        args: tuple = (trial,)
        if study_uid:
            sql += (" AND s.study_uid IN (SELECT study_uid FROM studies WHERE trial=? AND "
                    "(study_uid=? OR new_study_uid=?))")
            args += (trial, study_uid, study_uid)
        if latest:
            sql += (" AND s.seq = (SELECT MAX(seq) FROM sign_offs t WHERE t.trial=s.trial "
                    "AND t.study_uid=s.study_uid)")
        cur = self.db.execute(sql + " ORDER BY s.seq", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    # -- QC flags of scans -----------------------------------------------------------
    def flag_scan(self, trial: str, study: str, series: str, flag: str, reviewer: str,
                  note: str = "") -> dict:
        """Record a reviewer's QC flag on one series of an output (and in the audit log).

        ``study`` is the study folder under OUT (``SUBJECT/STUDY``), ``series`` its series
        folder; ``flag`` one of :data:`QUALITY`. Flags are append-only: the latest counts.
        Images are flagged, never edited; the push writes the flag to the XNAT scan's
        quality field.
        """
        if flag not in QUALITY:
            raise StoreError(f"flag {flag!r} is not one of {', '.join(QUALITY)}.")
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise StoreError("a QC flag needs the reviewer's name; fill in who reviewed.")
        record = {"at": _now(), "trial": trial, "study": study, "series": series, "flag": flag,
                  "reviewer": reviewer, "note": note or ""}
        with self.db:
            self.db.execute("INSERT INTO scan_flags (at, trial, study, series, flag, reviewer, "
                            "note) VALUES (:at, :trial, :study, :series, :flag, :reviewer, "
                            ":note)", record)
        self.audit(trial, "scan-flag", {k: record[k] for k in
                                        ("study", "series", "flag", "reviewer", "note")})
        return record

    def scan_flags(self, trial: str, study: str | None = None) -> dict[tuple[str, str], dict]:
        """The latest flag of each flagged series, by (study, series)."""
        sql, args = "SELECT * FROM scan_flags WHERE trial=?", (trial,)
        if study is not None:
            sql, args = sql + " AND study=?", (trial, study)
        cur = self.db.execute(sql + " ORDER BY seq", args)
        names = [d[0] for d in cur.description]
        return {(r["study"], r["series"]): r for r in (dict(zip(names, row)) for row in cur)}

    # -- trial protocol checks -------------------------------------------------------
    def record_protocol_check(self, trial: str, protocol: str,
                              results: dict[str, tuple[str, str]]) -> None:
        """Record a protocol check per source study: ``{study UID: (result, failed rules)}``,
        result ``pass``, ``warn`` or ``fail`` (and in the audit log). The latest counts."""
        at = _now()
        with self.db:
            self.db.executemany(
                "INSERT INTO protocol_checks (at, trial, study_uid, protocol, result, failed) "
                "VALUES (?,?,?,?,?,?)",
                [(at, trial, uid, protocol, r, failed) for uid, (r, failed) in results.items()])
        self.audit(trial, "protocol-check", {"protocol": protocol, "studies": {
            uid: r for uid, (r, _) in results.items()}})

    def protocol_checks(self, trial: str) -> dict[str, dict]:
        """The latest protocol check of each checked source study, by study UID."""
        cur = self.db.execute("SELECT * FROM protocol_checks WHERE trial=? ORDER BY seq", (trial,))
        names = [d[0] for d in cur.description]
        return {r["study_uid"]: r for r in (dict(zip(names, row)) for row in cur)}

    def audit(self, trial: str | None, event: str, detail: dict) -> None:
        with self.db:
            self.db.execute("INSERT INTO audit (at, trial, event, detail) VALUES (?,?,?,?)",
                            (_now(), trial, event, json.dumps(detail, sort_keys=True)))

    def audit_log(self, trial: str | None = None, event: str | None = None) -> list[dict]:
        """Audit entries, oldest first (of ``trial`` and of kind ``event`` when given)."""
        where = [(c, v) for c, v in (("trial", trial), ("event", event)) if v]
        sql = "SELECT seq, at, trial, event, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(f"{c}=?" for c, _ in where)
        args = tuple(v for _, v in where)
        rows = self.db.execute(sql + " ORDER BY seq", args).fetchall()
        return [dict(zip(("seq", "at", "trial", "event", "detail"), r)) for r in rows]

    def export_keys(self, out, trial: str | None = None) -> int:
        """Write the linkage key as CSV to a text stream; returns the row count."""
        sql = ("SELECT s.trial, s.key_field, s.key_value, s.patient_id, s.patient_name, "
               "s.subject_id, s.method, d.offset_days, s.created FROM subjects s LEFT JOIN "
               "date_offsets d ON d.trial=s.trial AND d.patient_id=s.patient_id")
        rows = self.db.execute(sql + (" WHERE s.trial=?" if trial else "") + " ORDER BY 1, 6",
                               (trial,) if trial else ()).fetchall()
        w = csv.writer(out)
        w.writerow(["trial", "key_field", "key_value", "patient_id", "patient_name",
                    "subject_id", "method", "date_offset_days", "created"])
        w.writerows(rows)
        return len(rows)

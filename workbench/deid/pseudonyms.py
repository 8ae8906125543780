"""Trial pseudonyms: from a lookup table, a keyed hash, a per-site sequence, or entered by
hand (the store's manual links)."""

from __future__ import annotations

import csv
import io
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WorkbenchError
from ..profile import Profile
from ..store import Store
from .engine import render

#: Lookup columns starting with this are notes for the person filling the table in
#: (e.g. ``info_patient_name`` in a template): read past, never used by the pipeline.
INFO_PREFIX = "info_"


def pattern_problem(profile: Profile, subject_id: str) -> str | None:
    """Why ``subject_id`` breaks the profile's ``subject_id.pattern``, else None."""
    pattern = profile.subject_id.get("pattern")
    if not pattern or re.fullmatch(pattern, subject_id):
        return None
    return f"subject ID {subject_id!r} does not match the trial's pattern {pattern!r}"


@dataclass(frozen=True)
class Lookup:
    """A CSV lookup table keyed on one column (PatientID or AccessionNumber)."""

    key: str
    rows: dict[str, dict[str, str]]
    source: str = ""
    blank_rows: tuple[int, ...] = ()  # CSV row numbers (header = 1) without a key: ignored
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # key -> CSV row number

    def warning(self) -> str | None:
        """A one-line warning naming the rows that were ignored for a blank key, else None."""
        if not self.blank_rows:
            return None
        rows = ", ".join(map(str, self.blank_rows))
        return (f"warning: lookup table {self.source} row{'s' if len(self.blank_rows) > 1 else ''}"
                f" {rows} {'have' if len(self.blank_rows) > 1 else 'has'} no {self.key}; "
                f"{'they were' if len(self.blank_rows) > 1 else 'it was'} ignored")

    @classmethod
    def for_profile(cls, path: str | Path, profile: Profile) -> "Lookup":
        """The lookup table at ``path`` read as ``profile``'s subject_id rule says."""
        rule = profile.subject_id
        return cls.from_csv(path, rule.get("key", "PatientID"), rule.get("column"),
                            bool(rule.get("shared_ids")))

    @classmethod
    def from_csv(cls, path: str | Path, key: str, column: str | None = None,
                 shared_ids: bool = False) -> "Lookup":
        """Read a UTF-8 lookup (with or without a BOM). Rows with a blank key are ignored
        and listed in ``blank_rows`` (see :meth:`warning`); a key given twice, or two keys
        sharing one ``column`` value (unless ``shared_ids``), is refused with the rows named.
        Columns named ``info_...`` are notes for people and are left out of the rows."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise WorkbenchError(f"cannot read lookup table {path}: {exc}") from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            was = "UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else \
                "Latin-1 (ISO-8859-1) or Windows-1252"
            raise WorkbenchError(
                f"lookup table {path} is not UTF-8 (byte {exc.start} is not); it looks like "
                f"{was}: save it as UTF-8, e.g. iconv -f {'utf-16' if was == 'UTF-16' else 'latin1'}"
                f" -t utf-8 {Path(path).name} > fixed.csv") from exc
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if key not in (reader.fieldnames or []):
            raise WorkbenchError(
                f"lookup table {path} has no {key!r} column (it has "
                f"{', '.join(reader.fieldnames or [])}); the profile keys subjects on {key}.")
        rows: dict[str, dict[str, str]] = {}
        lines: dict[str, int] = {}
        owners: dict[str, tuple[str, int]] = {}
        blank: list[int] = []
        for line, r in enumerate(reader, start=2):
            k = (r.get(key) or "").strip()
            if not k:
                if any((v or "").strip() for c, v in r.items() if c):
                    blank.append(line)  # a wholly empty row is no one's
                continue
            if k in rows:
                raise WorkbenchError(f"lookup table {path} gives {key} {k!r} twice (rows "
                                     f"{lines[k]} and {line}); keep one row per {key}.")
            rows[k], lines[k] = {c: (v or "").strip() for c, v in r.items()
                                 if c and not c.startswith(INFO_PREFIX)}, line
            sid = rows[k].get(column or "", "")
            if sid and not shared_ids:
                if sid in owners and owners[sid][0] != k:
                    other, at = owners[sid]
                    raise WorkbenchError(
                        f"lookup table {path} maps {key} {other!r} (row {at}) and {k!r} (row "
                        f"{line}) to one {column} {sid!r}; give each patient their own ID, or "
                        "set shared_ids: true in the profile's subject_id if they are one subject.")
                owners[sid] = (k, line)
        return cls(key, rows, str(path), tuple(blank), lines)


def _keyed(secret: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def assign(profile: Profile, store: Store, secret: bytes, keys: dict[str, tuple[str, str]],
           lookup: Lookup | None, values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Pseudonyms for ``keys`` (key value -> (patient ID, patient name)).

    Returns (key -> pseudonym, key -> reason it has none). Existing links in
    the store are reused; new ones are numbered by the coordinator in an
    order derived from the keyed hash, so file order and worker count never
    change them. ``manual`` profiles take the links entered by hand (see
    :meth:`Store.set_manual_subjects`). An ID that breaks the profile's
    ``subject_id.pattern`` is refused: that key gets a reason instead.
    """
    rule = profile.subject_id
    method = rule.get("from", "hash")
    key_field = rule.get("key", "PatientID")
    trial = profile.trial_key
    known = store.pseudonyms(trial, key_field)
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    new: list[tuple[str, str, str, str]] = []
    if method == "lookup":
        if lookup is None:
            raise WorkbenchError(f"profile {profile.name} takes pseudonyms from a lookup table "
                                 f"keyed on {key_field}: pass --lookup CSV.")
        column = rule["column"]
        for k, (pid, name) in keys.items():
            row = lookup.rows.get(k)
            if row is None or not row.get(column):
                missing[k] = (f"no lookup entry with a {column!r} value for this study's {key_field}; "
                              "add it to the lookup table and re-run with --resume")
                continue
            found[k] = row[column]
            new.append((k, pid, name, row[column]))
    elif method == "hash":
        prefix = render(str(rule.get("prefix", "SUBJ-")), values)
        length = int(rule.get("length", 8))
        for k, (pid, name) in keys.items():
            sid = known.get(k) or prefix + _keyed(secret, "subject", k).hex()[:length].upper()
            found[k] = sid
            new.append((k, pid, name, sid))
    elif method == "manual":
        for k in keys:
            if k in known:
                found[k] = known[k]
            else:
                missing[k] = (f"no trial subject ID entered for {_named(key_field, k, keys)}: "
                              "enter it in the SubjectIDs table (workbench.widgets.SubjectIDs) "
                              "and save, or give the trial's IDs in a lookup table (profile "
                              "subject_id from: lookup), then re-run with --resume")
    else:  # sequence
        prefix = render(str(rule.get("prefix", "{site_id}-")), values)
        digits = int(rule.get("digits", 4))
        pattern = re.compile(re.escape(prefix) + r"(\d+)$")
        used = [int(m[1]) for s in known.values() if (m := pattern.match(s))]
        nxt = max(used, default=0) + 1
        for k in sorted(keys, key=lambda k: _keyed(secret, "sequence", k)):
            pid, name = keys[k]
            if k in known:
                found[k] = known[k]
                continue
            found[k] = f"{prefix}{nxt:0{digits}d}"
            nxt += 1
            new.append((k, pid, name, found[k]))
    if rule.get("pattern"):
        for k in [k for k in found if pattern_problem(profile, found[k])]:
            if method == "lookup" and k in lookup.rows:
                where = f"lookup table {lookup.source} row {lookup.lines.get(k, '?')}"
                fix = "correct it in the lookup table"
            elif method == "manual":
                where, fix = "entered by hand", "correct it in the SubjectIDs table and save"
            else:
                where, fix = f"made by {method}", "fix the profile's subject_id rule"
            missing[k] = (f"{_named(key_field, k, keys)}: {pattern_problem(profile, found.pop(k))}"
                          f" ({where}); {fix}, then re-run with --resume")
    store.add_pseudonyms(trial, key_field, method,
                         [r for r in new if r[0] not in known and r[0] in found])
    return found, missing


def _named(key_field: str, key: str, keys: dict[str, tuple[str, str]]) -> str:
    """``PatientID 'P1'``, or ``AccessionNumber 'A1' (PatientID 'P1')``."""
    pid = keys.get(key, ("", ""))[0]
    also = f" (PatientID {pid!r})" if key_field != "PatientID" and pid else ""
    return f"{key_field} {key!r}{also}"

"""Trial pseudonyms: from a lookup table, a keyed hash, or a per-site sequence."""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..profile import Profile
from ..store import Store
from .engine import render


@dataclass(frozen=True)
class Lookup:
    """A CSV lookup table keyed on one column (PatientID or AccessionNumber)."""

    key: str
    rows: dict[str, dict[str, str]]

    @classmethod
    def from_csv(cls, path: str | Path, key: str) -> "Lookup":
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                if key not in (reader.fieldnames or []):
                    raise WorkbenchError(
                        f"lookup table {path} has no {key!r} column (it has "
                        f"{', '.join(reader.fieldnames or [])}); the profile keys subjects on {key}.")
                rows = {r[key].strip(): {k: (v or "").strip() for k, v in r.items() if k}
                        for r in reader if r.get(key, "").strip()}
        except OSError as exc:
            raise WorkbenchError(f"cannot read lookup table {path}: {exc}") from exc
        return cls(key, rows)


def _keyed(secret: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def assign(profile: Profile, store: Store, secret: bytes, keys: dict[str, tuple[str, str]],
           lookup: Lookup | None, values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Pseudonyms for ``keys`` (key value -> (patient ID, patient name)).

    Returns (key -> pseudonym, key -> reason it has none). Existing links in
    the store are reused; new ones are numbered by the coordinator in an
    order derived from the keyed hash, so file order and worker count never
    change them.
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
    store.add_pseudonyms(trial, key_field, method, [r for r in new if r[0] not in known])
    return found, missing

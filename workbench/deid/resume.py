"""What an output folder was made with, so that ``--resume`` cannot mix two pseudonymisations.

A run records, per output folder, a fingerprint of the trial secret (never the
secret), the profile's name and hash, the site and a digest of every lookup row
a planned study used. Resuming into a folder that holds files made with other
settings is refused with :class:`~workbench.errors.ResumeMismatch`.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Iterable

from ..errors import ResumeMismatch
from ..profile import Profile
from ..store import Store
from .pseudonyms import Lookup

LABEL = b"workbench output folder secret fingerprint"


def fingerprint(secret: bytes) -> str:
    """An HMAC-SHA256 of a fixed label keyed by ``secret`` (hex): tells secrets apart only."""
    return hmac.new(secret, LABEL, hashlib.sha256).hexdigest()


def row_digest(row: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The digest of a lookup row (sorted column/value pairs) and one per column."""
    pairs = sorted(row.items())
    whole = hashlib.sha256("\0".join(f"{c}\0{v}" for c, v in pairs).encode()).hexdigest()
    return whole, {c: hashlib.sha256(f"{c}\0{v}".encode()).hexdigest()[:16] for c, v in pairs}


def _has_files(out: Path) -> bool:
    return out.is_dir() and any(out.iterdir())


def _site(site: str) -> str:
    return repr(site) if site else "(none)"


def differences(store: Store, out: Path, profile: Profile, secret: bytes, site: str,
                table: Lookup | None, secret_only: bool = False) -> list[str]:
    """How the current settings differ from those recorded for ``out`` (empty: they agree)."""
    old = store.output_settings(str(out))
    if old is None:
        return []
    found = []
    if old["secret_fingerprint"] != fingerprint(secret):
        found.append("the trial secret differs (another --store or --trial-secret-file)")
    if secret_only:
        return found
    if old["profile_hash"] != profile.hash:
        found.append(f"the profile differs ({old['profile']} {old['profile_hash'][:12]} → "
                     f"{profile.name} {profile.hash[:12]})")
    if old["site"] != site:
        found.append(f"the site differs ({_site(old['site'])} → {_site(site)})")
    used = store.output_lookup_rows(str(out))
    if used and table is None:
        found.append("no lookup table is given, but the existing outputs used one")
    elif used:
        for (field, key), (digest, columns) in sorted(used.items()):
            row = table.rows.get(key) if field == table.key else None
            if row is None:  # a removed row cannot mix pseudonyms: its studies are held
                continue
            now, now_columns = row_digest(row)
            if now != digest:
                changed = sorted(c for c in set(columns) | set(now_columns)
                                 if columns.get(c) != now_columns.get(c))
                found.append(f"the lookup row for {field} {key!r} changed "
                             f"({', '.join(changed)})")
    return found


def guard(store: Store, out: Path, profile: Profile, secret: bytes, site: str | None,
          table: Lookup | None, resume: bool, managed: bool = False) -> None:
    """Refuse to resume ``out`` with other settings than its files were made with; then
    record the current ones.

    ``managed`` (a batch, which supersedes the studies whose profile, site or lookup
    row changed) checks the secret only and records the current settings.
    """
    site = site or ""
    has_files = _has_files(out)
    if has_files and resume:
        found = differences(store, out, profile, secret, site, table, secret_only=managed)
        if found:
            raise ResumeMismatch(
                f"output folder {out} was made with other settings: {'; '.join(found)}. "
                "Resume it with the settings it was made with, or write to a new output folder.")
    if managed or not has_files:  # the rows this run plans are recorded afresh
        store.forget_output(str(out))
    store.set_output_settings(str(out), profile.trial_key, fingerprint(secret), profile.name,
                              profile.hash, site)


def record_rows(store: Store, out: str | Path, table: Lookup | None,
                keys: Iterable[str]) -> None:
    """Record the digests of ``table``'s rows for ``keys`` (those planned studies use);
    a row recorded before keeps its first digest."""
    if table is None:
        return
    rows = [(table.key, k, *row_digest(table.rows[k])) for k in keys if k in table.rows]
    store.add_output_lookup_rows(str(out), rows)

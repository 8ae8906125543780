"""The run record: a folder a trial monitor can read, free of patient identity.

``runs/<trial>/<UTC timestamp>_<id>/`` holds the executed notebook and its HTML
copy (written by :func:`workbench.batch.notebook.run_notebook`), ``studies.csv``
(one row per study: state, files, quarantined, pushed), ``totals.csv``,
``checksums.csv`` (the SHA-256 of every source file, by study, and of every
output) and ``manifest.json`` (inputs by hash, output digests, package versions,
git commit, profile hash, parameters without secrets, the SHA-256 of
``checksums.csv``). While a batch runs,
``studies.csv`` grows by one row per finished study and the manifest says
``running``, so a killed batch still shows how far it got.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import re
import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from ..deid.files import sha256_file
from ..deid.run import safe_name
from ..errors import BatchError

PACKAGES = ("workbench", "pydicom", "numpy", "pandas", "dask", "distributed", "papermill",
            "nbconvert", "xnat")
REDACTED = "[identity removed]"
MIN_DIGITS = 6
TEXT_SUFFIXES = (".csv", ".json", ".ipynb", ".html")
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass
class StudyRow:
    """One study in a run record (no patient identity: a keyed reference and the pseudonym).

    ``state``: verified, quarantined (files held for review), not selected,
    failed (redone by the next run) or changed after push (held for a person).
    ``action``: what this run did. ``pushed``: "pushed", "pushed earlier",
    "would push (dry run)", "push failed" or "".
    """

    study_ref: str
    subject_id: str
    study: str  # <subject_id>/<study_dir> in the output folder
    state: str
    action: str
    files: int  # source files of the study
    deidentified: int  # files de-identified and verified (this run or earlier)
    quarantined: int
    pushed: str = ""
    session: str = ""
    reason: str = ""


COLUMNS = [f.name for f in fields(StudyRow)]
CHECKSUM_COLUMNS = ["role", "study_ref", "name", "sha256"]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_dir(runs: str | os.PathLike, trial: str) -> Path:
    """``<runs>/<trial>/<UTC timestamp>_<id>`` (not created)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(runs) / safe_name(trial) / f"{stamp}_{secrets.token_hex(3)}"


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> dict[str, Any] | None:
    """The commit of the workbench checkout this runs from, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               check=True, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "package_modified": bool(dirty.strip())}


def scrub(folder: Path, identities: Iterable[str]) -> int:
    """Replace identifying strings in the record's text files; return how many were found.

    A safety net under records built from de-identified values only: a name or
    ID that reached a message (a path in a traceback, say) is removed, matched
    without regard to case and never inside a longer run of letters and digits.
    JSON files (the manifest, the notebook) are scrubbed value by value. Words
    shorter than three characters, and numbers shorter than six digits (which
    would match the record's own counts), are left alone.
    """
    cleaner = _Cleaner({s for s in identities
                        if len(s) >= (MIN_DIGITS if s.isdigit() else 3)})
    if not cleaner.words or not folder.is_dir():
        return 0
    for path in sorted(folder.iterdir()):
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        if path.suffix in (".json", ".ipynb"):
            text = path.read_text(encoding="utf-8")
            if not any(cleaner.hits(json.loads(m[0])) for m in JSON_STRING.finditer(text)):
                continue  # looked at string by string: a large manifest is not parsed whole
            doc = cleaner.walk(json.loads(text))
            _write_text(path, json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        else:  # line by line: a long checksums file is never read whole
            with open(path, encoding="utf-8", newline="") as f:
                if not any(cleaner.hits(line) for line in f):
                    continue
            with _replacing(path, newline="") as out, \
                    open(path, encoding="utf-8", newline="") as f:
                out.writelines(map(cleaner.clean, f))
    return cleaner.found


class _Cleaner:
    """Replaces identifying words in strings and counts them."""

    TOKEN = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[^\W_]+")  # terminal colour codes stay whole

    def __init__(self, words: set[str]) -> None:
        self.words = words
        self.tokens = {w.lower() for w in words if w.isalnum()}
        others = sorted((w for w in words if not w.isalnum()), key=len, reverse=True)
        self.pattern = re.compile("|".join(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])"
                                           for w in others), re.IGNORECASE) if others else None
        self.found = 0

    def _token(self, match: re.Match) -> str:
        if match[0].lower() in self.tokens:
            self.found += 1
            return REDACTED
        return match[0]

    def clean(self, text: str) -> str:
        text = self.TOKEN.sub(self._token, text)
        if self.pattern is not None:
            text, n = self.pattern.subn(REDACTED, text)
            self.found += n
        return text

    def hits(self, text: str) -> bool:
        """True when ``text`` holds an identifying word (not counted)."""
        before = self.found
        self.clean(text)
        hit, self.found = self.found != before, before
        return hit

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.clean(value)
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self.walk(v) for k, v in value.items()}
        return value


@contextmanager
def _replacing(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A text file written under a temporary name that replaces ``path`` once complete."""
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline=newline, encoding="utf-8") as f:
        yield f
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    with _replacing(path) as f:
        f.write(text)


class RunRecord:
    """Writes one run's record folder.

    Parameters
    ----------
    folder
        The run folder; created, and refused if it already holds a record.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        if (self.folder / "manifest.json").exists():
            raise BatchError(f"{self.folder} already holds a run record; choose a new run "
                             "folder.")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = {"status": "running", "started": utc_now(),
                                         "run_id": self.folder.name}
        self.studies_csv = self.folder / "studies.csv"
        self.totals_csv = self.folder / "totals.csv"
        self.manifest_json = self.folder / "manifest.json"
        self.checksums_csv = self.folder / "checksums.csv"

    @property
    def run_id(self) -> str:
        return self.folder.name

    def begin(self, **fields_: Any) -> None:
        """Write the manifest (status ``running``) and the header of ``studies.csv``."""
        self.manifest.update(fields_)
        self.save_manifest()
        with open(self.studies_csv, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(COLUMNS)

    def add(self, row: StudyRow) -> None:
        """Append one finished study to ``studies.csv`` (the running record)."""
        with open(self.studies_csv, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, COLUMNS).writerow(asdict(row))
            f.flush()

    def write_checksums(self, rows: Iterable[tuple[str, str, str, str]]) -> dict[str, Any]:
        """Write ``checksums.csv`` row by row; return the outputs' count and digest.

        ``rows`` are ``(role, study reference, name, SHA-256)``: role ``source``
        (a study's file, unnamed: source paths may name the patient), ``other
        source`` (a file that is not an image; its kind as name) or ``output``
        (named by its path in the output folder, in path order). The digest is
        the SHA-256 over the outputs' ``<path> <sha256>`` lines.
        """
        digest, outputs = hashlib.sha256(), 0
        with _replacing(self.checksums_csv, newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CHECKSUM_COLUMNS)
            for row in rows:
                writer.writerow(row)
                if row[0] == "output":
                    digest.update(f"{row[2]} {row[3]}\n".encode())
                    outputs += 1
        return {"written_or_confirmed_now": outputs, "digest": digest.hexdigest()}

    def finish(self, rows: list[StudyRow], identities: Iterable[str], **fields_: Any) -> None:
        """Write the final ``studies.csv``, ``totals.csv`` and manifest; scrub them."""
        self.manifest.update(fields_)
        self.manifest["finished"] = utc_now()
        self.manifest["totals"] = totals(rows)
        self._write_csv(self.studies_csv, COLUMNS, [asdict(r) for r in rows])
        self._write_csv(self.totals_csv, ["state", "studies", "files", "deidentified",
                                          "quarantined", "pushed"],
                        [{"state": k, **v} for k, v in self.manifest["totals"].items()])
        self.save_manifest()
        removed = scrub(self.folder, identities)
        if removed:
            self.manifest["identity_removed_from_record"] = removed
        if self.checksums_csv.exists():
            self.manifest["checksums"] = {"file": self.checksums_csv.name,
                                          "sha256": sha256_file(self.checksums_csv)}
        self.save_manifest()

    def save_manifest(self) -> None:
        _write_text(self.manifest_json, json.dumps(self.manifest, indent=1, sort_keys=True,
                                                   default=str) + "\n")

    @staticmethod
    def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
        with _replacing(path, newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)


def totals(rows: list[StudyRow]) -> dict[str, dict[str, int]]:
    """Per state: studies, source files, de-identified and quarantined files, studies pushed."""
    found: dict[str, dict[str, int]] = {}
    for r in rows:
        t = found.setdefault(r.state, {"studies": 0, "files": 0, "deidentified": 0,
                                       "quarantined": 0, "pushed": 0})
        t["studies"] += 1
        t["files"] += r.files
        t["deidentified"] += r.deidentified
        t["quarantined"] += r.quarantined
        t["pushed"] += r.pushed in ("pushed", "pushed earlier")
    return dict(sorted(found.items()))


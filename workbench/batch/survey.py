"""Catalog a delivery and hash every file, in workers; group it into studies.

The catalog is :func:`workbench.catalog.read_header`; each worker also hashes
the file it read, so a study's inputs can be compared with those of an earlier
run by content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Instance, Skipped, files_under, read_header
from ..deid import files
from ..deid.pseudonyms import Lookup
from ..profile import Profile
from .executors import run_chunks
from .ledger import Inputs

CHUNK = 64


def sha256_file(path: str) -> str:
    """SHA-256 of a file's bytes ("" when it cannot be read)."""
    try:
        return files.sha256_file(path)
    except OSError:
        return ""


def survey_files(paths: list[str]) -> list[tuple[Instance | Skipped, str]]:
    """Catalog and hash each file (runs in a worker)."""
    return [(read_header(p), sha256_file(p)) for p in paths]


@dataclass
class Study:
    """One source study: its instances and their digests."""

    uid: str
    instances: list[Instance] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)

    def sources_digest(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.digests)).encode()).hexdigest()


@dataclass
class Survey:
    """A delivery's catalog (in file order), its studies and file digests."""

    headers: list[Instance | Skipped]
    studies: dict[str, Study]
    digests: dict[str, str]  # path -> SHA-256

    @property
    def skipped(self) -> list[Skipped]:
        return [h for h in self.headers if isinstance(h, Skipped)]


def survey(src: Path, executor: Executor | None, slots: int, progress: bool) -> Survey:
    """Catalog and hash every file under ``src`` on ``executor`` (None: in this process)."""
    paths = list(files_under(src))
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    headers: list[Instance | Skipped] = []
    digests: dict[str, str] = {}
    studies: dict[str, Study] = {}
    for _, records in run_chunks(executor, survey_files, chunks, "survey", progress,
                                 [len(c) for c in chunks]):
        for rec, digest in records:
            headers.append(rec)
            digests[rec.path] = digest
            if isinstance(rec, Instance):
                study = studies.setdefault(rec.study_uid, Study(rec.study_uid))
                study.instances.append(rec)
                study.digests.append(digest)
    return Survey(headers, studies, digests)


def study_inputs(study: Study, profile: Profile, table: Lookup | None, site: str) -> Inputs:
    """The inputs a study's result depends on."""
    by_accession = profile.subject_id.get("key", "PatientID") == "AccessionNumber"
    key = next((k for i in study.instances
                if (k := i.accession if by_accession else i.patient_id)), "")
    row = table.rows.get(key, {}) if table else {}
    blob = json.dumps({"row": row, "site": site}, sort_keys=True)
    return Inputs(study.sources_digest(), len(study.instances), profile.hash,
                  hashlib.sha256(blob.encode()).hexdigest())


def study_ref(secret: bytes, uid: str) -> str:
    """A reference to a source study for the run record: a keyed hash, not the UID."""
    return hmac.new(secret, f"batch-study:{uid}".encode(), hashlib.sha256).hexdigest()[:16]


def identities(studies: dict[str, Study]) -> set[str]:
    """Identifying strings of a delivery (names, IDs, accession numbers): kept out of records."""
    found: set[str] = set()
    by_patient: dict[str, Instance] = {}
    for study in studies.values():
        for i in study.instances:
            by_patient.setdefault(i.patient_id + "\0" + i.patient_name, i)
            if i.accession:
                found.add(i.accession)
    for i in by_patient.values():
        found.update(part for part in re.split(r"[\^=,\s]+", i.patient_name) if len(part) >= 3)
        if i.patient_id:
            found.add(i.patient_id)
    return {s for s in found if len(s) >= 3}


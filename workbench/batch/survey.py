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
from typing import Iterator

from ..catalog import Instance, Skipped, files_under, read_header
from ..deid import files
from ..deid.pseudonyms import Lookup
from ..profile import Profile
from .executors import AHEAD, run_chunks
from .ledger import Inputs

CHUNK = 128
#: Fields of a catalog record that repeat across a study's files: held once, not per file.
REPEATED = ("sop_class", "study_uid", "series_uid", "modality", "patient_id", "patient_name",
            "accession", "study_date", "study_description", "series_description")


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
    """One source study: its files' digests and the keys it is looked up by."""

    uid: str
    digests: list[str] = field(default_factory=list)
    patient_id: str = ""  # the first non-empty one among its files
    accession: str = ""

    def sources_digest(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.digests)).encode()).hexdigest()

    def add(self, instance: Instance, digest: str) -> None:
        self.digests.append(digest)
        self.patient_id = self.patient_id or instance.patient_id
        self.accession = self.accession or instance.accession


@dataclass
class Survey:
    """A delivery's studies and counts, and its catalog until the plan takes it.

    Per file, only the digests stay (the run record lists them); the catalog's
    records are handed over once, by :meth:`take_headers`.
    """

    headers: list[Instance | Skipped] = field(default_factory=list)  # in file order
    studies: dict[str, Study] = field(default_factory=dict)
    other_files: dict[str, list[str]] = field(default_factory=dict)  # kind -> digests
    files: int = 0
    instances: int = 0
    identities: set[str] = field(default_factory=set)  # see :func:`identities`

    def take_headers(self) -> Iterator[Instance | Skipped]:
        """The catalog, handed over once: the survey keeps none of it."""
        headers, self.headers = self.headers, []
        return iter(headers)


def survey(src: Path, executor: Executor | None, slots: int, progress: bool) -> Survey:
    """Catalog and hash every file under ``src`` on ``executor`` (None: in this process)."""
    paths = list(files_under(src))
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    found = Survey()
    patients: set[tuple[str, str]] = set()
    known: dict[str, str] = {}
    for _, records in run_chunks(executor, survey_files, chunks, AHEAD * slots, "survey",
                                 progress, [len(c) for c in chunks]):
        for rec, digest in records:
            found.headers.append(rec)
            found.files += 1
            if isinstance(rec, Instance):
                for name in REPEATED:
                    value = getattr(rec, name)
                    setattr(rec, name, known.setdefault(value, value))
                found.instances += 1
                found.studies.setdefault(rec.study_uid, Study(rec.study_uid)).add(rec, digest)
                if rec.accession:
                    found.identities.add(rec.accession)
                if (rec.patient_id, rec.patient_name) not in patients:
                    patients.add((rec.patient_id, rec.patient_name))
                    found.identities.update(identities(rec.patient_id, rec.patient_name))
            else:
                found.other_files.setdefault(rec.kind, []).append(digest)
    found.identities = {s for s in found.identities if len(s) >= 3}
    return found


def study_inputs(study: Study, profile: Profile, table: Lookup | None, site: str) -> Inputs:
    """The inputs a study's result depends on."""
    by_accession = profile.subject_id.get("key", "PatientID") == "AccessionNumber"
    key = study.accession if by_accession else study.patient_id
    row = table.rows.get(key, {}) if table else {}
    blob = json.dumps({"row": row, "site": site}, sort_keys=True)
    return Inputs(study.sources_digest(), len(study.digests), profile.hash,
                  hashlib.sha256(blob.encode()).hexdigest())


def study_ref(secret: bytes, uid: str) -> str:
    """A reference to a source study for the run record: a keyed hash, not the UID."""
    return hmac.new(secret, f"batch-study:{uid}".encode(), hashlib.sha256).hexdigest()[:16]


def identities(patient_id: str, patient_name: str) -> set[str]:
    """Identifying strings of one patient (ID, parts of the name): kept out of run records."""
    found = {part for part in re.split(r"[\^=,\s]+", patient_name) if len(part) >= 3}
    if patient_id:
        found.add(patient_id)
    return found

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
from itertools import islice
from pathlib import Path

from ..catalog import Instance, Skipped, files_under, read_header
from ..deid import files
from ..deid.delivery import INSTANCE, Delivery
from ..deid.pseudonyms import Lookup
from ..profile import Profile
from .executors import AHEAD, run_chunks
from .ledger import Inputs

CHUNK = 256  # files per task: fewer, larger tasks cost a Dask cluster less


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
    """One source study: its files, their digest, and the keys it is looked up by."""

    uid: str
    files: int = 0
    sources: str = ""  # SHA-256 over the sorted SHA-256 digests of its files
    patient_id: str = ""  # the first non-empty one among its files
    accession: str = ""


@dataclass
class Survey:
    """A delivery's files (on disk, in ``delivery``), its studies and counts."""

    delivery: Delivery = field(default_factory=Delivery)
    studies: dict[str, Study] = field(default_factory=dict)
    other_files: dict[str, int] = field(default_factory=dict)  # kind -> files
    files: int = 0
    instances: int = 0
    identities: set[str] = field(default_factory=set)  # see :func:`identities`


def survey(src: Path, executor: Executor | None, slots: int, progress: bool) -> Survey:
    """Catalog and hash every file under ``src`` on ``executor`` (None: in this process)."""
    paths = files_under(src)
    chunks = iter(lambda: list(islice(paths, CHUNK)), [])
    total = sum(1 for _ in files_under(src))
    found = Survey()
    patients: set[tuple[str, str]] = set()
    for _, records in run_chunks(executor, survey_files, chunks, AHEAD * slots, "survey",
                                 progress, total):
        found.delivery.add_all(records)
        for rec, _ in records:
            found.files += 1
            if isinstance(rec, Instance):
                found.instances += 1
                if rec.accession:
                    found.identities.add(rec.accession)
                if (rec.patient_id, rec.patient_name) not in patients:
                    patients.add((rec.patient_id, rec.patient_name))
                    found.identities.update(identities(rec.patient_id, rec.patient_name))
            else:
                found.other_files[rec.kind] = found.other_files.get(rec.kind, 0) + 1
    found.identities = {s for s in found.identities if len(s) >= 3}
    found.studies = _studies(found.delivery)
    return found


def _studies(delivery: Delivery) -> dict[str, Study]:
    """The studies of a surveyed delivery, in the order their first files came."""
    found: dict[str, Study] = {}
    for uid, patient_id, accession in delivery.query(
            "SELECT study_uid, patient_id, accession FROM files WHERE kind = ? ORDER BY n",
            (INSTANCE,)):
        study = found.get(uid) or found.setdefault(uid, Study(uid))
        study.patient_id = study.patient_id or patient_id
        study.accession = study.accession or accession
    hashes = {}
    for uid, digest in delivery.query("SELECT study_uid, digest FROM files WHERE kind = ? "
                                      "ORDER BY study_uid, digest", (INSTANCE,)):
        study = found[uid]
        hashes.setdefault(uid, hashlib.sha256()).update(
            (digest if not study.files else "\n" + digest).encode())
        study.files += 1
    for uid, h in hashes.items():
        found[uid].sources = h.hexdigest()
    return found


def study_inputs(study: Study, profile: Profile, table: Lookup | None, site: str) -> Inputs:
    """The inputs a study's result depends on."""
    by_accession = profile.subject_id.get("key", "PatientID") == "AccessionNumber"
    key = study.accession if by_accession else study.patient_id
    row = table.rows.get(key, {}) if table else {}
    blob = json.dumps({"row": row, "site": site}, sort_keys=True)
    return Inputs(study.sources, study.files, profile.hash,
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

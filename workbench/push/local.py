"""The local side of a push: verified studies in an output folder, their zips and digests.

A study is one ``OUT/<subject_id>/<study_dir>`` folder written by
:func:`workbench.deid.run.deidentify_delivery`. It may leave the site only when a
person approved it (:mod:`workbench.approval`) and every file in it is listed in
the store's verified outputs with the size,
modification time and profile hash recorded at verification, and its bytes,
read as they are zipped, have the SHA-256 the verifier passed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pydicom import dcmread

from ..approval import release_refusal, study_states
from ..deid.engine import TRIAL_TAGS
from ..errors import FileChanged
from ..profile import Profile
from ..store import Store

REDO = "re-run workbench deid / verify"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class LocalFile:
    """One output file of a study and its digests (``md5`` is filled as it is read to leave;
    ``sha256`` is the digest recorded when the verifier passed it)."""

    path: Path
    name: str  # relative to the study folder, POSIX
    sop_uid: str
    size: int
    mtime_ns: int
    sha256: str = ""
    md5: str = ""


@dataclass
class LocalStudy:
    """One study folder of an output, checked against the store.

    Attributes
    ----------
    folder
        ``OUT/<subject_id>/<study_dir>``.
    subject_id
        The pseudonym.
    study_uid
        The output StudyInstanceUID ("" when the folder is refused).
    refused
        Why the study may not leave the site, or None when every file is verified.
    held
        Why the study waits for a person (not approved, or rejected), or None when
        it is approved.
    values
        Template values read from the first file's header (trial fields, StudyDate,
        Modality) plus ``subject_id``.
    """

    folder: Path
    subject_id: str
    study_uid: str
    files: list[LocalFile] = field(default_factory=list)
    refused: str | None = None
    held: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<subject_id>/<study_dir>``, the study's key in tables and receipts."""
        return f"{self.folder.parent.name}/{self.folder.name}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def manifest_digest(self) -> str:
        """SHA-256 over the sorted ``<SOP Instance UID> <MD5>`` lines of the study's files."""
        lines = sorted(f"{f.sop_uid} {f.md5}\n" for f in self.files)
        return hashlib.sha256("".join(lines).encode()).hexdigest()


def _example(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def find_studies(out: Path, store: Store, profile: Profile) -> list[LocalStudy]:
    """Every study folder under ``out``: verified and approved, refused (a file not
    verified, or changed since), or held for a person (not approved, or rejected).

    Parameters
    ----------
    out
        The output folder (resolved).
    store
        The site's store: verified outputs and sign-offs.
    profile
        The profile the push uses; files verified under another version are refused.
    """
    trial = profile.trial_key
    verified = store.verified_outputs(trial)
    states = {s.folder: s for s in study_states(store, trial, out)}
    studies = []
    for subject in sorted(p for p in out.iterdir() if p.is_dir()):
        for folder in sorted(p for p in subject.iterdir() if p.is_dir()):
            study = _check(folder, verified, profile.hash)
            if study.files and not study.refused:
                study.held = release_refusal(states.get(study.name))
            if study.files or study.refused:
                studies.append(study)
    return studies


def _check(folder: Path, verified: dict[str, dict], profile_hash: str) -> LocalStudy:
    unlisted: list[str] = []
    changed: list[str] = []
    other_profile: list[str] = []
    undigested: list[str] = []
    files: list[LocalFile] = []
    rows: list[dict] = []
    for dirpath, _, names in os.walk(folder):
        for filename in sorted(names):
            path = Path(dirpath) / filename
            name = path.relative_to(folder).as_posix()
            row = verified.get(str(path))
            st = path.stat()
            if row is None:
                unlisted.append(name)
            elif (row["size"], row["mtime_ns"]) != (st.st_size, st.st_mtime_ns):
                changed.append(name)
            elif row["profile_hash"] != profile_hash:
                other_profile.append(name)
            elif not row["sha256"]:
                undigested.append(name)
            else:
                rows.append(row)
                files.append(LocalFile(path, name, row["sop_uid"], st.st_size, st.st_mtime_ns,
                                       row["sha256"]))
    files.sort(key=lambda f: f.name)
    subject_id = rows[0]["subject_id"] if rows else folder.parent.name
    study = LocalStudy(folder, subject_id, "", files)
    problems = []
    if changed:
        problems.append(f"{len(changed)} file(s) changed after verification ({_example(changed)})")
    if unlisted:
        problems.append(f"{len(unlisted)} file(s) not verified by workbench deid "
                        f"({_example(unlisted)})")
    if other_profile:
        problems.append(f"{len(other_profile)} file(s) verified under another version of the "
                        f"profile ({_example(other_profile)})")
    if undigested:
        problems.append(f"{len(undigested)} file(s) verified before digests were recorded "
                        f"({_example(undigested)})")
    uids = {row["study_uid"] for row in rows}
    if len(uids) > 1:
        problems.append(f"the folder holds files of {len(uids)} studies")
    if problems:
        study.refused = f"not verified: {'; '.join(problems)}; {REDO}"
        return study
    if files:
        study.study_uid = uids.pop()
        study.values = header_values(files[0].path, subject_id)
    return study


def header_values(path: Path, subject_id: str) -> dict[str, str]:
    """Template values of a study from one of its output files."""
    ds = dcmread(path, stop_before_pixels=True)
    values = {key: str(ds.get(keyword, "") or "") for key, keyword in TRIAL_TAGS.items()}
    values.update(subject_id=subject_id, StudyDate=str(ds.get("StudyDate", "") or ""),
                  Modality=str(ds.get("Modality", "") or ""))
    return values


def verified_chunks(f: LocalFile, size: int = 1 << 20) -> Iterator[bytes]:
    """The file's bytes, read in chunks, and its MD5 filled in once they are all read.

    Raises
    ------
    FileChanged
        If the file's size, modification time or SHA-256 no longer matches its
        verification (the SHA-256 after the last chunk: discard what was sent).
    """
    st = f.path.stat()
    if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
        raise FileChanged(f"not verified: {f.name} changed after verification; {REDO}")
    digest, verified = hashlib.md5(), hashlib.sha256()
    with open(f.path, "rb") as src:
        while chunk := src.read(size):
            digest.update(chunk)
            verified.update(chunk)
            yield chunk
    if verified.hexdigest() != f.sha256:
        raise FileChanged(f"not verified: {f.name} is not the file the verifier passed "
                          f"(its SHA-256 differs); {REDO}")
    f.md5 = digest.hexdigest()


def write_zip(study: LocalStudy, target: Path) -> None:
    """Write the study's verified files to a zip on disk (stored, streamed).

    Raises
    ------
    FileChanged
        As :func:`verified_chunks`.
    """
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for f in study.files:
            info = zipfile.ZipInfo(f.name, _ZIP_TIME)
            info.file_size = f.size
            with archive.open(info, "w") as dst:
                for chunk in verified_chunks(f):
                    dst.write(chunk)


def content_digest(data: bytes) -> tuple[str, str | None]:
    """SOP Instance UID and SHA-256 of the pixel data of one DICOM file (None without pixels)."""
    ds = dcmread(io.BytesIO(data), force=True)
    pixels = next((ds[k].value for k in _PIXEL_KEYWORDS if k in ds), None)
    digest = hashlib.sha256(pixels).hexdigest() if isinstance(pixels, bytes) else None
    return str(ds.get("SOPInstanceUID", "")), digest


def sanitize_label(text: str) -> str:
    """An XNAT label: every character outside ``[A-Za-z0-9_-]`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text.strip())

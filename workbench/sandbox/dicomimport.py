"""DICOM uploads: unpack an archive, group instances into one session, lay out scans as XNAT does.

Rules followed (XNAT 1.8 DICOM import, see the project's XNAT REST reference):

* instances are grouped by StudyInstanceUID, one study per session; several
  studies in one upload are refused;
* project, subject and session come from query parameters first, then from
  ``Project:``/``Subject:``/``Session:`` assignments in Patient Comments, Study
  Comments or Additional Patient History, then from Study Description or
  Accession Number (project), Patient Name (subject) and Patient ID (session);
* labels are sanitised to ``[A-Za-z0-9_-]``;
* one scan per series: scan ID from Series Number (duplicates become
  ``<number>-<MODALITY><n>``), scan type and series description from Series
  Description, files in a ``DICOM`` resource;
* the session data type follows the modalities (PT, then MR, then CT, ...).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import pydicom
from pydicom.errors import InvalidDicomError

from .schemas import OTHER_SCAN_TYPE, OTHER_SESSION_TYPE, SCAN_TYPES, SESSION_TYPES
from .store import UNASSIGNED, SandboxError, md5_file, sanitize_label

MULTIPLE_SESSIONS = "Upload included files for multiple imaging sessions."
NO_SESSIONS = "Upload did not include parseable files for session generation."
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_COMMENT_TAGS = ("PatientComments", "StudyComments", "AdditionalPatientHistory")
_HEADER_TAGS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "SeriesNumber",
    "SeriesDescription", "Modality", "StudyDate", "StudyTime", "StudyDescription", "PatientName",
    "PatientID", "AccessionNumber", "Manufacturer", "ManufacturerModelName",
    "MagneticFieldStrength", "NumberOfFrames", *_COMMENT_TAGS,
)


class UnparsableUpload(SandboxError):
    """A member of the upload is not DICOM; ``partial`` holds what was parsed before it."""

    def __init__(self, message: str, partial: ParsedUpload) -> None:
        super().__init__(400, message)
        self.partial = partial


def comment_value(text: str, key: str) -> str | None:
    """Value of a ``Key: value`` assignment in a DICOM comment field (case-insensitive)."""
    match = re.match(rf"(?:\A|.*[\s,;]){key}\s*:\s*([\w\-]*)(?:[\s,;].*\Z|\Z)", text,
                     re.IGNORECASE | re.DOTALL)
    return match.group(1) if match and match.group(1) else None


def _dicom_date(value: str) -> str:
    value = value.strip()
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.fullmatch(r"\d{8}", value) else ""


def _dicom_time(value: str) -> str:
    value = value.strip()
    return f"{value[:2]}:{value[2:4]}:{value[4:6]}" if re.match(r"\d{6}", value) else ""


@dataclass
class _Series:
    uid: str
    header: dict[str, str]
    instances: list[tuple[Path, str, str]] = field(default_factory=list)  # path, name, SOP UID


@dataclass
class StagedSession:
    """A session laid out on disk as ``root/SCANS/<scan>/DICOM/<file>`` with its metadata."""

    root: Path
    xsi_type: str
    fields: dict[str, str]
    scans: list[dict[str, Any]]

    def to_record(self) -> dict[str, Any]:
        """JSON-able metadata (without the folder)."""
        return {"xsiType": self.xsi_type, "fields": self.fields, "scans": self.scans}

    @classmethod
    def from_record(cls, root: Path, record: dict[str, Any]) -> StagedSession:
        """Rebuild from :meth:`to_record` output and the folder holding the files."""
        return cls(root, record["xsiType"], record["fields"], record["scans"])

    def file(self, scan_id: str, name: str) -> Path:
        """Location of one staged file."""
        return self.root / "SCANS" / scan_id / "DICOM" / name


@dataclass
class ParsedUpload:
    """DICOM instances of an upload, grouped by study and series, still unassigned to labels."""

    workdir: Path
    studies: dict[str, dict[str, _Series]] = field(default_factory=dict)

    @property
    def header(self) -> dict[str, str]:
        """Header values of the first instance of the (single) study."""
        return next(iter(next(iter(self.studies.values())).values())).header

    def routing(self) -> tuple[list[str], str | None, str | None]:
        """Project candidates, subject and session as the DICOM headers assign them.

        Returns
        -------
        tuple
            Project IDs or aliases in XNAT's order of precedence (comment assignment,
            Study Description, Accession Number), then the subject and session labels
            (unsanitised, None when absent).
        """
        header = self.header
        assigned = {key: next((value for tag in _COMMENT_TAGS
                               if (value := comment_value(header.get(tag, ""), key))), None)
                    for key in ("Project", "Subject", "Session")}
        projects = [assigned["Project"], header.get("StudyDescription"),
                    header.get("AccessionNumber")]
        return ([p for p in projects if p],
                assigned["Subject"] or header.get("PatientName") or None,
                assigned["Session"] or header.get("PatientID") or None)

    def build(self, project: str, subject: str, label: str,
              anonymize: bool) -> StagedSession:
        """Move the instances into the scan layout and collect session and scan metadata.

        Parameters
        ----------
        project, subject, label
            Final project ID, subject label and session label.
        anonymize
            Apply the site anonymization script: Patient Name := subject, Patient ID :=
            session label, Study Description := project (unless unassigned).
        """
        series_list = sorted(next(iter(self.studies.values())).values(), key=_series_order)
        root = self.workdir / "session"
        scans: list[dict[str, Any]] = []
        used: dict[str, int] = {}
        for series in series_list:
            header = series.header
            base = header.get("SeriesNumber", "").strip().replace("+", "_")
            base = sanitize_label(base) if base else str(zlib.crc32(series.uid.encode()))
            modality = header.get("Modality", "OT").upper() or "OT"
            scan_id = base
            if base in used:
                used[base] += 1
                scan_id = f"{base}-{modality[:2]}{used[base]}"
            else:
                used[base] = 0
            folder = root / "SCANS" / scan_id / "DICOM"
            folder.mkdir(parents=True, exist_ok=True)
            files: dict[str, dict[str, Any]] = {}
            sops: dict[str, str] = {}
            for path, name, sop_uid in series.instances:
                if name in sops and sops[name] != sop_uid:
                    name = sanitize_label(sop_uid) + ".dcm"
                sops[name] = sop_uid
                target = folder / name
                os.replace(path, target)
                if anonymize:
                    _anonymize(target, project, subject, label)
                files[name] = {"size": target.stat().st_size, "md5": md5_file(target)}
            sop_class = header.get("SOPClassUID", "")
            scan_type = (SCAN_TYPES["SC"] if sop_class.startswith(_SECONDARY_CAPTURE)
                         else SCAN_TYPES.get(modality, OTHER_SCAN_TYPE))
            description = header.get("SeriesDescription", "")
            scan_fields = {"type": description, "series_description": description,
                           "UID": series.uid, "frames": str(len(files)), "modality": modality,
                           "quality": "usable",
                           "scanner/manufacturer": header.get("Manufacturer", ""),
                           "scanner/model": header.get("ManufacturerModelName", "")}
            scans.append({"ID": scan_id, "xsiType": scan_type,
                          "fields": {k: v for k, v in scan_fields.items() if v}, "files": files})
        modalities = [s["fields"].get("modality", "") for s in scans]
        session_modality = next((m for m in ("PT", "MR", "CT", *SESSION_TYPES) if m in modalities),
                                modalities[0] if modalities else "OT")
        header = self.header
        fields = {
            "UID": next(iter(self.studies)), "date": _dicom_date(header.get("StudyDate", "")),
            "time": _dicom_time(header.get("StudyTime", "")), "modality": session_modality,
            "session_type": (project if anonymize and project != UNASSIGNED
                             else header.get("StudyDescription", "")),
            "dcmPatientName": subject if anonymize else header.get("PatientName", ""),
            "dcmPatientId": label if anonymize else header.get("PatientID", ""),
            "dcmAccessionNumber": header.get("AccessionNumber", ""),
            "scanner/manufacturer": header.get("Manufacturer", ""),
            "scanner/model": header.get("ManufacturerModelName", ""),
        }
        if session_modality == "MR":
            fields["fieldStrength"] = header.get("MagneticFieldStrength", "")
        xsi_type = SESSION_TYPES.get(session_modality, OTHER_SESSION_TYPE)
        return StagedSession(root, xsi_type, {k: v for k, v in fields.items() if v}, scans)


def _series_order(series: _Series) -> tuple[int, str]:
    number = series.header.get("SeriesNumber", "").strip()
    return (int(number) if number.lstrip("+-").isdigit() else 1 << 30, series.uid)


def _anonymize(path: Path, project: str, subject: str, session: str) -> None:
    """Site anonymization script: rewrite patient identity and study description in place."""
    dataset = pydicom.dcmread(path)
    dataset.PatientName = subject
    dataset.PatientID = session
    if project != UNASSIGNED:
        dataset.StudyDescription = project
    dataset.save_as(path, enforce_file_format=False)


def _members(path: Path, workdir: Path, prefix: str = "") -> Iterator[tuple[str, IO[bytes]]]:
    """Regular members of a zip or tar archive (nested archives are unpacked), as open streams."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                with archive.open(info) as stream:
                    yield from _member_or_nested(prefix + info.filename, stream, workdir)
        return
    try:
        archive = tarfile.open(path, mode="r|*")
    except (tarfile.TarError, OSError) as error:
        raise SandboxError(400, NO_SESSIONS) from error
    with archive:
        for info in archive:
            stream = archive.extractfile(info) if info.isfile() else None
            if stream is not None:
                yield from _member_or_nested(prefix + info.name, stream, workdir)


def _member_or_nested(name: str, stream: IO[bytes], workdir: Path
                      ) -> Iterator[tuple[str, IO[bytes]]]:
    if not name.lower().endswith(_ARCHIVE_SUFFIXES):
        yield name, stream
        return
    nested = workdir / f"nested-{zlib.crc32(name.encode())}"
    with open(nested, "wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    try:
        yield from _members(nested, workdir, prefix=name + "/")
    finally:
        nested.unlink(missing_ok=True)


def _read_header(path: Path) -> dict[str, str] | None:
    """Header values needed for routing, or None if the file is not a usable DICOM object."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
            except InvalidDicomError:
                dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            header = {tag: str(dataset.get(tag, "") or "") for tag in _HEADER_TAGS}
    except Exception:  # pydicom raises many types on arbitrary bytes
        return None
    if not all(header[tag] for tag in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID")):
        return None
    return header


def parse_upload(body: Path, workdir: Path, ignore_unparsable: bool) -> ParsedUpload:
    """Unpack an uploaded zip or tar(.gz) and group its DICOM instances.

    Raises
    ------
    SandboxError
        400 when the body is not an archive, holds no DICOM or holds several studies.
    UnparsableUpload
        400 when a member is not DICOM and ``ignore_unparsable`` is false.
    """
    parsed = ParsedUpload(workdir)
    incoming = workdir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    members = _members(body, workdir)
    for number in itertools.count():
        target = incoming / f"{number:06d}"
        try:
            member = next(members, None)
            if member is None:
                break
            name, stream = member
            with open(target, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as error:
            raise SandboxError(400, NO_SESSIONS) from error
        header = _read_header(target)
        if header is None:
            target.unlink()
            if ignore_unparsable:
                continue
            raise UnparsableUpload(f"unable to read DICOM object {name}", parsed)
        study = parsed.studies.setdefault(header["StudyInstanceUID"], {})
        series_uid = header["SeriesInstanceUID"] or header["StudyInstanceUID"]
        series = study.setdefault(series_uid, _Series(series_uid, header))
        filename = re.sub(r"[^\w.-]", "_", Path(name).name).lstrip(".") or "file.dcm"
        series.instances.append((target, filename, header["SOPInstanceUID"]))
    if len(parsed.studies) > 1:
        raise SandboxError(400, MULTIPLE_SESSIONS)
    if not parsed.studies:
        raise SandboxError(400, NO_SESSIONS)
    return parsed

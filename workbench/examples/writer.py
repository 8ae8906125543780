"""Writing objects into the delivery.

The file writer (which also records planted identifiers), series
registration and the patient, study and series attributes every object shares.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from .common import _DETACHED_PATIENT_SOP, _code, _da, _ds, _item, _tm, _uid
from .people import _Person, _Study


class _Writer:
    """Writes files under the delivery folder and records planted identifiers."""

    def __init__(self, delivery: Path, seed: int) -> None:
        self.delivery = delivery
        self.seed = seed
        self.identifiers: list[dict[str, Any]] = []

    def uid(self, *parts: object) -> str:
        """A UID derived from the seed and ``parts``: ``2.25.`` plus a name-based UUID."""
        return _uid(self.seed, *parts)

    def save(self, ds: Dataset, rel: str) -> str:
        """Write ``ds`` as a Part 10 file (Explicit VR Little Endian) at ``rel``."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = self.delivery / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return rel

    def add(self, series: dict[str, Any], ds: Dataset, name: str) -> None:
        """Save ``ds`` as file ``name`` of ``series`` and register it there."""
        series["files"].append(self.save(ds, f"{series['folder']}/{name}"))
        series["sop_uids"].append(ds.SOPInstanceUID)

    def plant(
        self, p: _Person, value: str, where: str, kind: str, path: str, in_pixels: bool = False
    ) -> None:
        """Record one planted identifier."""
        self.identifiers.append(
            {
                "patient_id": p.patient_id,
                "value": value,
                "where": where,
                "kind": kind,
                "path": path,
                "in_pixels": in_pixels,
            }
        )


def _series(
    w: _Writer,
    p: _Person,
    study: _Study,
    label: str,
    number: int,
    sop_class: str,
    description: str,
    start: datetime,
    vendor: tuple[str, str, str],
    modality: str | None = None,
) -> dict[str, Any]:
    """Register a series of ``study`` in folder ``<label>_<number>``; modality defaults to label."""
    series = {
        "uid": w.uid(p.index, study.label, label, "series"),
        "number": number,
        "modality": modality or label,
        "sop_class_uid": sop_class,
        "description": description,
        "folder": f"{p.folder}/{study.folder}/{label}_{number}",
        "start": start,
        "vendor": vendor,
        "files": [],
        "sop_uids": [],
    }
    study.series.append(series)
    return series


def _base(
    p: _Person, study: _Study, series: dict[str, Any], sop_uid: str, number: int, when: datetime
) -> Dataset:
    """Patient, study, series, equipment and request attributes shared by every object."""
    site = p.site
    ds = Dataset()
    if site.charset:
        ds.SpecificCharacterSet = site.charset
    ds.SOPClassUID = series["sop_class_uid"]
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = _da(study.day)
    ds.StudyTime = _tm(study.start)
    ds.SeriesDate = _da(series["start"])
    ds.SeriesTime = _tm(series["start"])
    ds.ContentDate = _da(when)
    ds.ContentTime = _tm(when)
    ds.AccessionNumber = study.accession
    ds.Modality = series["modality"]
    ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = series["vendor"]
    ds.InstitutionName = site.institution
    ds.InstitutionAddress = site.institution_address
    ds.ReferringPhysicianName = p.staff[0]
    ds.StationName = site.station
    ds.DeviceSerialNumber = site.serial
    ds.StudyDescription = study.description
    ds.ProcedureCodeSequence = [_code(study.label, "99RIS", study.procedure)]
    ds.SeriesDescription = series["description"]
    ds.PerformingPhysicianName = p.staff[1]
    ds.OperatorsName = p.staff[2]
    ds.ReferencedPatientSequence = [
        _item(
            ReferencedSOPClassUID=_DETACHED_PATIENT_SOP, ReferencedSOPInstanceUID=p.ref_patient_uid
        )
    ]
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = site.institution
    ds.PatientBirthDate = _da(p.birth)
    ds.PatientSex = p.sex
    ds.OtherPatientIDs = p.other_id
    ds.OtherPatientIDsSequence = [
        _item(PatientID=p.other_id, IssuerOfPatientID=site.issuer, TypeOfPatientID="TEXT")
    ]
    ds.OtherPatientNames = f"{p.birth_surname}^{p.given}"
    ds.PatientAge = p.age_on(study.day)
    ds.PatientSize = _ds(p.height_m)
    ds.PatientWeight = _ds(p.weight_kg)
    ds.PatientAddress = p.address
    ds.PatientMotherBirthName = p.mother_surname
    ds.PatientTelephoneNumbers = p.phone
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series["uid"]
    ds.StudyID = study.accession
    ds.SeriesNumber = series["number"]
    ds.InstanceNumber = number
    ds.RequestAttributesSequence = [
        _item(
            RequestedProcedureID=study.accession,
            ScheduledProcedureStepID=f"S{study.accession}",
            RequestedProcedureDescription=study.procedure,
        )
    ]
    return ds

"""The delivery generator: :func:`generate` and the :class:`Planted` record it returns.

Also the per-patient writing, the record of every planted identifier and the
lookup tables.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bad_files import _write_bad_inputs
from .capture import _write_capture
from .common import _components, _da
from .people import _SITES, _Person, _person
from .reports import _write_reports
from .rt import _write_rt
from .series import (
    GE_CREATOR,
    GE_ID_ELEMENT,
    PHILIPS_CREATOR,
    PHILIPS_NAME_ELEMENT,
    SIEMENS_CREATOR,
    SIEMENS_NAME_ELEMENT,
    _write_ct,
    _write_mr,
    _write_pet,
)
from .writer import _Writer


@dataclass
class Planted:
    """Record of a generated delivery and of every identifier planted in it.

    Attributes
    ----------
    root : Path
        The ``out`` folder given to :func:`generate`.
    delivery : Path
        The DICOM tree (``root / "delivery"``).
    subjects_csv, events_csv : Path
        Lookup tables (PatientID -> subject_id, site_id; AccessionNumber ->
        image_event_id, PatientID).
    patients : list of dict
        Per patient: ``patient_id``, ``subject_id``, ``site_id``, ``name`` (PN),
        ``charset`` (SpecificCharacterSet, None for the default repertoire),
        ``ascii_name``, ``folder``, ``birth_date``, ``sex``, ``weight_kg``,
        ``height_m``, ``accession_numbers``, ``image_event_ids``,
        ``study_uids``, ``study_dates`` (PET-CT first, then MR),
        ``frame_of_reference_uid`` (shared by CT, PET and RT),
        ``suv_bw_factor`` and ``studies``: ``study_uid``,
        ``accession_number``, ``image_event_id``, ``study_date``,
        ``description``, ``folder`` and ``series`` (``uid``, ``number``,
        ``modality``, ``sop_class_uid``, ``description``, ``folder``,
        ``files`` and their ``sop_uids``).
    identifiers : list of dict
        ``patient_id``, ``value`` (text as it would be searched for), ``where``
        (attribute keyword, ``/``-separated sequence path whose value is
        searched in every item, ``(gggg,eeee)`` tag, ``(gggg,xxee) CREATOR``
        private element, ``EncapsulatedDocument`` (PDF bytes, ASCII text), or
        one of ``folder name``, ``file name``, ``overlay``, ``pixels``),
        ``kind`` (name, id, date, address, phone, accession, institution,
        uid), ``path`` (a file or folder holding it, relative to
        ``delivery``, POSIX) and ``in_pixels`` (True for burned-in text and
        overlay bits, which hold the ASCII upper-case form of the name).
    bad_files : list of dict
        ``path`` (relative to ``delivery``), ``problem`` (not_dicom, dicomdir,
        truncated, missing_patient_id, duplicate, conflicting_sop_instance_uid)
        and, for copies, ``of`` (the original's path).
    parameters : dict
        The arguments of :func:`generate` (without ``out``).
    """

    root: Path
    delivery: Path
    subjects_csv: Path
    events_csv: Path
    patients: list[dict[str, Any]]
    identifiers: list[dict[str, Any]]
    bad_files: list[dict[str, str]]
    parameters: dict[str, Any]

    def to_json(self) -> str:
        """Serialise with paths relative to :attr:`root` (no absolute paths)."""
        doc = {
            "parameters": self.parameters,
            "delivery": self.delivery.relative_to(self.root).as_posix(),
            "subjects_csv": self.subjects_csv.relative_to(self.root).as_posix(),
            "events_csv": self.events_csv.relative_to(self.root).as_posix(),
            "patients": self.patients,
            "identifiers": self.identifiers,
            "bad_files": self.bad_files,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, path: str | Path) -> Planted:
        """Load ``planted.json``; paths resolve against the file's folder."""
        path = Path(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        root = path.parent
        return cls(
            root=root,
            delivery=root / doc["delivery"],
            subjects_csv=root / doc["subjects_csv"],
            events_csv=root / doc["events_csv"],
            patients=doc["patients"],
            identifiers=doc["identifiers"],
            bad_files=doc["bad_files"],
            parameters=doc["parameters"],
        )


def _record_identifiers(w: _Writer, p: _Person, s: dict[str, dict[str, Any]]) -> None:
    """Record each identifier planted for ``p`` with one file (or folder) that holds it."""
    ct, pet, mr = s["ct"]["files"][0], s["pet"]["files"][0], s["mr"]["files"][0]
    sc, pdf, sr = s["sc"]["files"][0], s["doc"]["files"][0], s["sr"]["files"][0]
    rtstruct, rtplan, rtdose = (s[k]["files"][0] for k in ("rtstruct", "rtplan", "rtdose"))
    siemens = f"(0029,xx{SIEMENS_NAME_ELEMENT:02X}) {SIEMENS_CREATOR}"
    philips = f"(2001,xx{PHILIPS_NAME_ELEMENT:02X}) {PHILIPS_CREATOR}"
    ge = f"(0009,xx{GE_ID_ELEMENT:02X}) {GE_CREATOR}"
    for value in _components(p.name):
        for where in ("PatientName", "ImageComments", "(6000,0022)", siemens):
            w.plant(p, value, where, "name", ct)
        w.plant(p, value, philips, "name", pet)
        w.plant(p, value, "ContentSequence/PersonName", "name", sr)
        w.plant(p, value, "ContentSequence/TextValue", "name", sr)
    w.plant(p, p.surname, "StudyDescription", "name", ct)
    w.plant(p, p.birth_surname, "OtherPatientNames", "name", ct)
    w.plant(p, p.mother_surname, "PatientMotherBirthName", "name", ct)
    for where, pn, path in (
        ("ReferringPhysicianName", p.staff[0], ct),
        ("PerformingPhysicianName", p.staff[1], ct),
        ("OperatorsName", p.staff[2], ct),
        ("ReviewerName", p.staff[3], rtplan),
        ("VerifyingObserverSequence/VerifyingObserverName", p.staff[4], sr),
    ):
        w.plant(p, pn.split("^")[0], where, "name", path)
    w.plant(p, p.patient_id, "PatientID", "id", ct)
    w.plant(p, p.patient_id, ge, "id", mr)
    w.plant(p, p.patient_id, "SeriesDescription", "id", mr)
    w.plant(p, p.patient_id, "ContentSequence/TextValue", "id", sr)
    w.plant(p, p.other_id, "OtherPatientIDs", "id", ct)
    w.plant(p, p.other_id, "OtherPatientIDsSequence/PatientID", "id", ct)
    w.plant(p, p.site.serial, "DeviceSerialNumber", "id", ct)
    w.plant(p, _da(p.birth), "PatientBirthDate", "date", ct)
    w.plant(p, p.address, "PatientAddress", "address", ct)
    w.plant(p, p.site.institution_address, "InstitutionAddress", "address", ct)
    w.plant(p, p.phone, "PatientTelephoneNumbers", "phone", ct)
    w.plant(p, p.site.institution, "InstitutionName", "institution", ct)
    w.plant(p, p.site.station, "StationName", "institution", ct)
    for study, path in zip(p.studies, (ct, mr), strict=True):
        for where in (
            "AccessionNumber",
            "StudyID",
            "RequestAttributesSequence/RequestedProcedureID",
            "RequestAttributesSequence/ScheduledProcedureStepID",
        ):
            w.plant(p, study.accession, where, "accession", path)
        w.plant(p, _da(study.day), "StudyDate", "date", path)
        w.plant(p, _da(study.day), "folder name", "date", f"{p.folder}/{study.folder}")
        w.plant(p, study.uid, "StudyInstanceUID", "uid", path)
    w.plant(
        p,
        _da(p.injection),
        "RadiopharmaceuticalInformationSequence/RadiopharmaceuticalStartDateTime",
        "date",
        pet,
    )
    w.plant(p, p.ref_patient_uid, "ReferencedPatientSequence/ReferencedSOPInstanceUID", "uid", ct)
    w.plant(p, s["ct"]["frame"], "FrameOfReferenceUID", "uid", ct)
    w.plant(
        p,
        s["ct"]["sop_uids"][0],
        "ReferencedFrameOfReferenceSequence/RTReferencedStudySequence/RTReferencedSeriesSequence"
        "/ContourImageSequence/ReferencedSOPInstanceUID",
        "uid",
        rtstruct,
    )
    w.plant(
        p,
        s["rtstruct"]["sop_uids"][0],
        "ReferencedStructureSetSequence/ReferencedSOPInstanceUID",
        "uid",
        rtplan,
    )
    w.plant(
        p,
        s["rtplan"]["sop_uids"][0],
        "ReferencedRTPlanSequence/ReferencedSOPInstanceUID",
        "uid",
        rtdose,
    )
    for value in (p.ascii_surname, p.ascii_given):
        w.plant(p, value, "overlay", "name", ct, in_pixels=True)
        w.plant(p, value, "pixels", "name", sc, in_pixels=True)
        w.plant(p, value, "EncapsulatedDocument", "name", pdf)
        w.plant(p, value, "folder name", "name", p.folder)
    w.plant(p, p.patient_id, "pixels", "id", sc, in_pixels=True)
    w.plant(p, _da(p.birth), "pixels", "date", sc, in_pixels=True)
    w.plant(p, p.patient_id, "EncapsulatedDocument", "id", pdf)
    w.plant(p, _da(p.birth), "EncapsulatedDocument", "date", pdf)
    w.plant(p, _da(p.studies[0].day), "EncapsulatedDocument", "date", pdf)
    w.plant(p, p.studies[0].accession, "EncapsulatedDocument", "accession", pdf)
    w.plant(p, p.patient_id, "folder name", "id", p.folder)
    w.plant(p, p.ascii_surname, "file name", "name", pdf)


def _patient_record(p: _Person, ct: dict[str, Any], pet: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready description of a written patient."""
    series_keys = (
        "uid", "number", "modality", "sop_class_uid", "description", "folder", "files", "sop_uids"
    )
    return {
        "patient_id": p.patient_id,
        "subject_id": p.subject_id,
        "site_id": p.site.site_id,
        "name": p.name,
        "charset": p.site.charset,
        "ascii_name": f"{p.ascii_surname}^{p.ascii_given}",
        "folder": p.folder,
        "birth_date": _da(p.birth),
        "sex": p.sex,
        "weight_kg": p.weight_kg,
        "height_m": p.height_m,
        "accession_numbers": [s.accession for s in p.studies],
        "image_event_ids": [s.event_id for s in p.studies],
        "study_uids": [s.uid for s in p.studies],
        "study_dates": [_da(s.day) for s in p.studies],
        "frame_of_reference_uid": ct["frame"],
        "suv_bw_factor": pet["suv_bw_factor"],
        "studies": [
            {
                "study_uid": s.uid,
                "accession_number": s.accession,
                "image_event_id": s.event_id,
                "study_date": _da(s.day),
                "description": s.description,
                "folder": f"{p.folder}/{s.folder}",
                "series": [{key: se[key] for key in series_keys} for se in s.series],
            }
            for s in p.studies
        ],
    }


def _write_patient(w: _Writer, p: _Person, ct_slices: int, ct_size: int) -> dict[str, Any]:
    """Write both studies of ``p``, record the plants and return the patient record."""
    rng = np.random.default_rng([w.seed, p.index, 1])
    petct, follow_up = p.studies
    ct = _write_ct(w, p, petct, ct_slices, ct_size, rng)
    pet, suv = _write_pet(w, p, petct, ct, rng)
    rtstruct, rtplan, rtdose = _write_rt(w, p, petct, ct)
    sc = _write_capture(w, p, petct, pet, suv)
    doc, sr = _write_reports(w, p, petct)
    mr = _write_mr(w, p, follow_up, ct, rng)
    _record_identifiers(
        w,
        p,
        {
            "ct": ct, "pet": pet, "rtstruct": rtstruct, "rtplan": rtplan, "rtdose": rtdose,
            "sc": sc, "doc": doc, "sr": sr, "mr": mr,
        },
    )
    return _patient_record(p, ct, pet)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(
    out: str | Path,
    patients: int = 3,
    seed: int = 0,
    *,
    ct_slices: int = 40,
    ct_size: int = 512,
    bad_inputs: bool = False,
) -> Planted:
    """Write a synthetic hospital delivery with planted fake identifiers.

    Parameters
    ----------
    out : str or Path
        Output folder; receives ``delivery/``, ``subjects.csv``,
        ``events.csv`` and ``planted.json``. Nothing is written elsewhere.
    patients : int
        Number of patients. Patient ``i`` belongs to SITE01, SITE02 or
        SITE03 for ``i % 3`` = 0, 1, 2, whose files use the default character
        repertoire, ISO_IR 100 (Latin-1) and ISO_IR 192 (UTF-8, Greek).
    seed : int
        Seed of every random draw and UID; a patient's data depend only on
        the seed and the patient's index.
    ct_slices : int
        Slices of each CT series, 3 mm apart.
    ct_size : int
        Rows and columns of each CT slice (500 mm field of view).
    bad_inputs : bool
        Also write a non-DICOM file, a DICOMDIR with an identical copy of a
        CT file (a second CD), a truncated file, a CT file without
        PatientID and a file reusing a CT SOP Instance UID with other pixels.

    Returns
    -------
    Planted
        The record also written to ``out/planted.json``.

    Raises
    ------
    FileExistsError
        If ``out/delivery`` exists and is not empty.
    ValueError
        If an argument is out of range.
    """
    if patients < 1 or seed < 0 or ct_slices < 1 or ct_size < 32:
        raise ValueError(
            "need patients >= 1, seed >= 0, ct_slices >= 1 and ct_size >= 32; got "
            f"patients={patients}, seed={seed}, ct_slices={ct_slices}, ct_size={ct_size}"
        )
    root = Path(out)
    delivery = root / "delivery"
    if delivery.exists() and any(delivery.iterdir()):
        raise FileExistsError(
            f"{delivery} already exists and is not empty; "
            "generate into a new folder or remove the old delivery first"
        )
    delivery.mkdir(parents=True, exist_ok=True)
    w = _Writer(delivery, seed)
    used: set[str] = set()
    per_site: dict[str, int] = {}
    people: list[_Person] = []
    records: list[dict[str, Any]] = []
    for index in range(patients):
        site_id = _SITES[index % len(_SITES)].site_id
        per_site[site_id] = per_site.get(site_id, 0) + 1
        people.append(_person(w.seed, index, per_site[site_id], used))
        records.append(_write_patient(w, people[-1], ct_slices, ct_size))
    bad = _write_bad_inputs(w, people[0], records[0]) if bad_inputs else []

    subjects_csv = root / "subjects.csv"
    events_csv = root / "events.csv"
    _write_csv(
        subjects_csv,
        ["PatientID", "subject_id", "site_id"],
        [[p.patient_id, p.subject_id, p.site.site_id] for p in people],
    )
    _write_csv(
        events_csv,
        ["AccessionNumber", "image_event_id", "PatientID"],
        [[s.accession, s.event_id, p.patient_id] for p in people for s in p.studies],
    )
    planted = Planted(
        root=root,
        delivery=delivery,
        subjects_csv=subjects_csv,
        events_csv=events_csv,
        patients=records,
        identifiers=w.identifiers,
        bad_files=bad,
        parameters={
            "patients": patients,
            "seed": seed,
            "ct_slices": ct_slices,
            "ct_size": ct_size,
            "bad_inputs": bad_inputs,
        },
    )
    (root / "planted.json").write_text(planted.to_json(), encoding="utf-8")
    return planted

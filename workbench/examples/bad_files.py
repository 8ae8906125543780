"""Problem files real deliveries contain, written with the first patient's CT.

A non-DICOM note, a second CD (DICOMDIR and a duplicate file), a truncated
file, a file without PatientID and a file reusing a SOP Instance UID.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom import dcmread

from .common import _components
from .dicomdir import _dicomdir
from .people import _Person
from .writer import _Writer


def _write_bad_inputs(w: _Writer, p: _Person, record: dict[str, Any]) -> list[dict[str, str]]:
    """Add the problem files real deliveries contain, using patient ``p``'s CT."""
    delivery = w.delivery
    ct_files = record["studies"][0]["series"][0]["files"]
    ct_folder = ct_files[0].rsplit("/", 1)[0]
    study_folder = ct_folder.rsplit("/", 1)[0]
    bad: list[dict[str, str]] = []

    (delivery / "notes.txt").write_text(
        "Transfer notes\nTwo CDs burned from PACS; the second is a partial re-send.\n",
        encoding="utf-8",
    )
    bad.append({"path": "notes.txt", "problem": "not_dicom"})

    copy_rel, dicomdir_rel = "CD2/DICOM/IM000001", "CD2/DICOMDIR"
    (delivery / copy_rel).parent.mkdir(parents=True)
    (delivery / copy_rel).write_bytes((delivery / ct_files[0]).read_bytes())
    (delivery / dicomdir_rel).write_bytes(_dicomdir(w, p, copy_rel, ["DICOM", "IM000001"]))
    bad.append({"path": dicomdir_rel, "problem": "dicomdir"})
    bad.append({"path": copy_rel, "problem": "duplicate", "of": ct_files[0]})
    for value in _components(p.name):
        w.plant(p, value, "DirectoryRecordSequence/PatientName", "name", dicomdir_rel)
    w.plant(p, p.patient_id, "DirectoryRecordSequence/PatientID", "id", dicomdir_rel)

    source = ct_files[1 % len(ct_files)]
    data = (delivery / source).read_bytes()
    truncated = f"{ct_folder}/IM{len(ct_files) + 1:06d}.dcm"
    (delivery / truncated).write_bytes(data[: len(data) // 2])
    bad.append({"path": truncated, "problem": "truncated", "of": source})

    ds = dcmread(delivery / source)
    del ds.PatientID
    ds.SeriesInstanceUID = w.uid(p.index, "CT without PatientID", "series")
    ds.SOPInstanceUID = w.uid(p.index, "CT without PatientID")
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.SeriesDescription = "CT export"
    missing = w.save(ds, f"{study_folder}/CT_99/IM000001.dcm")
    bad.append({"path": missing, "problem": "missing_patient_id"})

    original = ct_files[2 % len(ct_files)]
    ds = dcmread(delivery / original)
    ds.PixelData = np.clip(ds.pixel_array + 25, 0, 4095).astype(np.int16).tobytes()
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"
    conflict = w.save(ds, f"{study_folder}/CT_2_RESENT/{original.rsplit('/', 1)[1]}")
    bad.append({"path": conflict, "problem": "conflicting_sop_instance_uid", "of": original})
    return bad

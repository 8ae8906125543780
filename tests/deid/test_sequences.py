"""D on a sequence keeps its items; what no rule names and no dictionary knows is removed.

Each test writes a file, de-identifies the folder with ``deidentify_delivery``
(verification included), reads the output back and asserts on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workbench.deid.run import deidentify_delivery
from workbench.store import Store

NAME = "Kowalczyk^Henrietta"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _report() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SR_CLASS, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "SR", NAME, "PID-77120"
    ds.VerificationFlag, ds.CompletionFlag, ds.ValueType = "VERIFIED", "COMPLETE", "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("126000", "Imaging Measurement Report")])
    observer = Dataset()
    observer.VerifyingObserverName = "Dr^Radiologist"
    observer.VerifyingOrganization = "St Elsewhere Hospital"
    observer.VerificationDateTime = "20240105101500"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence()
    ds.VerifyingObserverSequence = Sequence([observer])
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.ConceptNameCodeSequence = Sequence([_code("121071", "Finding")])
    text.TextValue = "Lesion seen in Henrietta's left lung"
    date = Dataset()
    date.RelationshipType, date.ValueType = "CONTAINS", "DATE"
    date.ConceptNameCodeSequence = Sequence([_code("111060", "Study Date")])
    date.Date = "20240101"
    ds.ContentSequence = Sequence([text, date])
    return ds


def _run(tmp_path: Path, ds: Dataset, store: Path | None = None):
    src = tmp_path / "src"
    src.mkdir(parents=True)
    ds.save_as(src / "obj.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    report = deidentify_delivery(src, out, "ps315-basic", store=Store(store or tmp_path / "s.db"),
                                 progress=False)
    written = [o for o in report.outcomes if o.state == "written"]
    assert len(written) == 1, [o.reason for o in report.quarantined]
    return dcmread(out / written[0].output)


def test_a_report_keeps_its_content_and_observer_with_dummies_inside(tmp_path):
    out = _run(tmp_path, _report())
    assert out.VerificationFlag == "VERIFIED" and len(out.VerifyingObserverSequence) == 1
    observer = out.VerifyingObserverSequence[0]
    assert "Radiologist" not in str(observer.VerifyingObserverName)
    assert observer.VerifyingObserverName  # a Type 1 attribute gets a dummy, not nothing
    assert "Elsewhere" not in str(observer.get("VerifyingOrganization", ""))
    assert out.CompletionFlag == "COMPLETE" and len(out.ContentSequence) == 2
    text, date = out.ContentSequence
    assert (text.RelationshipType, text.ValueType) == ("CONTAINS", "TEXT")
    assert text.ConceptNameCodeSequence[0].CodeValue == "121071"
    assert text.ConceptNameCodeSequence[0].CodeMeaning == "Finding"
    assert "Henrietta" not in text.TextValue
    assert date.ValueType == "DATE" and date.Date != "20240101"


@pytest.mark.parametrize("keyword", ["PersonIdentificationCodeSequence",
                                     "FlowIdentifierSequence", "GraphicAnnotationSequence"])
def test_d_on_a_sequence_keeps_its_items(tmp_path, keyword):
    ds = _report()
    item = _code("X1", "kept code")
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.42"
    item.TextValue = "Henrietta Kowalczyk, seen 2024"
    ds.add_new(keyword, "SQ", Sequence([item]))
    out = _run(tmp_path, ds)
    assert len(out[keyword].value) == 1
    inner = out[keyword].value[0]
    assert (inner.CodeValue, inner.CodeMeaning) == ("X1", "kept code")
    assert "Henrietta" not in inner.TextValue and "Kowalczyk" not in inner.TextValue
    assert inner.ReferencedSOPInstanceUID != "1.2.826.0.1.3680043.99.42"


@pytest.mark.parametrize("vr", ["UN", "PN"])
def test_a_patient_name_whose_tag_was_flipped_is_removed(tmp_path, vr):
    ds = _report()
    del ds.PatientName  # one byte off turns (0010,0010) into (0010,7310), not in the dictionary
    ds.add_new(0x00107310, vr, NAME.encode() if vr == "UN" else NAME)
    out = _run(tmp_path, ds)
    assert 0x00107310 not in out
    assert b"Kowalczyk" not in next((tmp_path / "out").rglob("*.dcm")).read_bytes()


def test_public_attributes_the_dictionary_does_not_know_are_removed(tmp_path):
    ds = _report()
    ds.add_new(0x00081999, "LO", "Henrietta Kowalczyk")
    ds.add_new(0x00187777, "UN", b"anything")
    out = _run(tmp_path, ds)
    assert 0x00081999 not in out and 0x00187777 not in out


def test_known_attributes_written_as_un_are_processed_like_any_other(tmp_path):
    ds = _report()
    uid, ref = ds.SOPInstanceUID, "1.2.826.0.1.3680043.99.7"
    del ds.PatientName
    ds.add_new(0x00100010, "UN", NAME.encode())
    ds.add_new(0x00081155, "UN", ref.encode() + b"\0")  # Referenced SOP Instance UID
    ds.add_new(0x00081030, "UN", b"CT chest ")  # Study Description, removed by the basic profile
    out = _run(tmp_path, ds)
    assert out[0x00100010].VR == "PN" and "Kowalczyk" not in str(out.PatientName)
    assert out[0x00081155].VR == "UI" and out.ReferencedSOPInstanceUID not in (ref, "")
    assert out.SOPInstanceUID != uid and 0x00081030 not in out
    same = _report()  # the UID read as UI elsewhere remaps to the same output UID
    same.ReferencedSOPInstanceUID = ref
    again = _run(tmp_path / "again", same, store=tmp_path / "s.db")  # same trial secret
    assert again.ReferencedSOPInstanceUID == out.ReferencedSOPInstanceUID

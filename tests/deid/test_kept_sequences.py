"""Kept sequences get the profile inside, recursively; a rule by path narrows it to one place.

PS3.15 E.1.1: keeping a sequence "requires recursively applying the profile rules to
each Dataset in each Item". Each test de-identifies a file with ``deidentify_delivery``
(verification included) and asserts on the output a reviewer would read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workbench.cli import main
from workbench.deid.run import deidentify_delivery
from workbench.errors import ProfileError
from workbench.profile import load_profile
from workbench.ps315 import Code
from workbench.review import tag_diff
from workbench.store import Store

DOCTOR = "Oyelaran^Babatunde"


def _image() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "Quist^Evangeline", "PID-55012"
    ds.AccessionNumber = "ACC-20931"
    request = Dataset()
    request.RequestedProcedureID = "RP-7781"
    request.RequestedProcedureDescription = "CT thorax staging"
    request.RequestingPhysician = DOCTOR  # (0032,1032), basic X
    request.ScheduledProcedureStepID = "SPS-4410"  # basic X
    ds.RequestAttributesSequence = Sequence([request])
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.5.1"
    ref.add_new(0x00081050, "PN", DOCTOR)  # Performing Physician's Name, basic X/Z
    ds.ReferencedImageSequence = Sequence([ref])
    return ds


def _run(tmp_path: Path, ds: Dataset, profile: str = "ltp2-jpl", **kw) -> Dataset:
    src = tmp_path / "src"
    src.mkdir(parents=True, exist_ok=True)
    ds.save_as(src / "obj.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    report = deidentify_delivery(src, out, profile, store=Store(tmp_path / "s.db"),
                                 progress=False, **kw)
    written = [o for o in report.outcomes if o.state == "written"]
    assert len(written) == 1, [o.reason for o in report.quarantined]
    return dcmread(out / written[0].output)


def _ltp2_lookup(tmp_path: Path) -> dict:
    table = tmp_path / "lookup.csv"
    table.write_text("AccessionNumber,participant_id,image_event_id,site_id\n"
                     "ACC-20931,LTP2-0042,IE-9001,JPL01\n", encoding="utf-8")
    return {"lookup": str(table)}


def test_a_kept_sequence_gets_the_profile_inside(tmp_path):
    out = _run(tmp_path, _image(), **_ltp2_lookup(tmp_path))
    request = out.RequestAttributesSequence[0]  # kept by the LTP2 SOP
    assert "RequestingPhysician" not in request  # its row is X, at every depth
    assert request.ScheduledProcedureStepID == "SPS-4410"  # the SOP keeps it by keyword
    assert request.RequestedProcedureDescription == "CT thorax staging"  # kept by keyword
    assert request.RequestedProcedureID == "RP-7781"  # kept by its path
    ref = out.ReferencedImageSequence[0]  # cleaned item by item (X/Z/U*)
    assert not ref.get("PerformingPhysicianName")
    assert ref.ReferencedSOPInstanceUID == "1.2.826.0.1.3680043.99.5.1"  # retain_uids
    assert ref.ReferencedSOPClassUID == out.SOPClassUID
    data = next((tmp_path / "out").rglob("*.dcm")).read_bytes()
    assert b"Oyelaran" not in data and b"Babatunde" not in data


def test_a_rule_by_path_applies_only_there(tmp_path):
    trial = tmp_path / "trial.yaml"
    trial.write_text("name: path-trial\nbase: ps315-basic\nattributes:\n"
                     "  RequestAttributesSequence: keep\n"
                     "  RequestAttributesSequence/ScheduledProcedureStepID: keep\n",
                     encoding="utf-8")
    ds = _image()
    ds.ScheduledProcedureStepID = "SPS-TOP-1"  # the same attribute at the top level
    out = _run(tmp_path, ds, str(trial))
    assert out.RequestAttributesSequence[0].ScheduledProcedureStepID == "SPS-4410"
    assert "RequestedProcedureID" not in out.RequestAttributesSequence[0]  # no rule: X
    assert "ScheduledProcedureStepID" not in out  # the path does not reach the top level


def test_rules_by_keyword_still_apply_at_every_depth():
    rt, pet = load_profile("rt-trial").plan, load_profile("eucanimage-pet").plan
    roi_name, structure_set_roi = 0x30060026, 0x30060020
    assert rt.action(roi_name, "LO", (structure_set_roi,)).code == Code.KEEP
    start, info = 0x00181072, 0x00540016  # RadiopharmaceuticalStartTime inside its sequence
    assert pet.action(start, "TM", (info,)).code == Code.KEEP
    assert pet.action(info, "SQ").code == Code.KEEP


def test_the_tag_diff_says_which_rule_decided_each_inner_attribute(tmp_path):
    source = _image()
    out = _run(tmp_path, source.copy(), **_ltp2_lookup(tmp_path))
    diff = tag_diff(source, out, "ltp2-jpl").set_index("path")
    row = diff.loc["RequestAttributesSequence[0].RequestingPhysician"]
    assert row["rule"] == "basic profile: X (Table E.1-1)" and row["action"] == "removed"
    assert "RequestAttributesSequence/RequestedProcedureID" in \
        diff.loc["RequestAttributesSequence[0].RequestedProcedureID", "rule"]


def test_profiles_show_lists_rules_by_path(capsys):
    assert main(["profiles", "show", "ltp2-jpl"]) == 0
    shown = capsys.readouterr().out
    assert "RequestAttributesSequence/RequestedProcedureID" in shown


def test_a_path_through_something_that_is_not_a_sequence_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nbase: ps315-basic\nattributes:\n"
                   "  PatientName/PatientID: keep\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="PatientName is not a sequence"):
        load_profile(str(bad))

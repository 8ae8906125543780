"""The engine on single datasets from pydicom's own test files: one profile, one secret."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file

from workbench.deid.engine import Engine, Subject
from workbench.profile import load_profile

SECRET = b"0123456789abcdef0123456789abcdef"


def _run(name: str, profile: str = "ps315-basic", secret: bytes = SECRET,
         subject: Subject | None = None):
    source = pydicom.dcmread(get_testdata_file(name))
    out = Engine(load_profile(profile), secret).deidentify(
        pydicom.dcmread(get_testdata_file(name)), subject or Subject("SUBJ-0001", -30))
    return source, out


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"])
def test_identity_goes(name):
    source, out = _run(name)
    assert out.PatientID != source.PatientID
    assert str(source.PatientName).split("^")[0] not in str(out.PatientName)
    assert out.get("PatientBirthDate", "") == ""
    assert out.SOPInstanceUID != source.SOPInstanceUID
    assert out.SOPClassUID == source.SOPClassUID  # what the object is stays
    assert out.PatientIdentityRemoved == "YES"


def test_uids_are_remapped_the_same_way_within_a_trial_and_differently_across():
    _, first = _run("CT_small.dcm")
    _, again = _run("CT_small.dcm")
    _, other = _run("CT_small.dcm", secret=b"another secret of thirty-two b..")
    assert first.StudyInstanceUID == again.StudyInstanceUID
    assert first.StudyInstanceUID != other.StudyInstanceUID
    assert first.SeriesInstanceUID != first.StudyInstanceUID


def test_the_pixels_and_geometry_the_science_needs_are_kept():
    source, out = _run("CT_small.dcm")
    assert out.PixelData == source.PixelData
    for keyword in ("Rows", "Columns", "PixelSpacing", "ImagePositionPatient",
                    "RescaleSlope", "RescaleIntercept"):
        assert out.get(keyword) == source.get(keyword), keyword


def test_serialised_output_reads_back_as_written():
    from io import BytesIO

    _, out = _run("MR_small.dcm")
    engine = Engine(load_profile("ps315-basic"), SECRET)
    back = pydicom.dcmread(BytesIO(engine.to_bytes(out)))
    assert back.PatientID == out.PatientID and back.SOPInstanceUID == out.SOPInstanceUID

"""The independent verification catches what the engine must never let through."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from workbench import verify
from workbench.deid.engine import Engine, Subject
from workbench.profile import load_profile

SECRET = b"verify-test-secret-0123456789abcdef"
PIXELS = b"\x10\x00" * 32


def _source(charset: str = "", name: str = "Ashworth^Margaret") -> Dataset:
    ds = Dataset()
    ds.file_meta = Dataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.99.1.3"
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.99.1.3"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.99.1.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.99.1.2"
    ds.StudyDate = "20230602"
    ds.AccessionNumber = "RWX3894407"
    ds.Modality = "CT"
    ds.InstitutionName = "Royal Wessex Infirmary"
    ds.PatientName = name
    ds.PatientID = "44173359"
    ds.PatientBirthDate = "19571130"
    ds.Manufacturer = "routine"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = 16
    return ds


def _output(source: Dataset, profile: str = "ps315-basic", change=None) -> tuple[bytes, list]:
    """(output bytes with pixel data, problems) after an optional change to the output."""
    prof = load_profile(profile)
    identity = verify.identity_of(source, prof)
    engine = Engine(prof, SECRET)
    out = engine.deidentify(source, Subject("SUBJ-0001", -10))
    if change is not None:
        change(out)
    header = engine.to_bytes(out)
    data = header + b"\xe0\x7f\x10\x00OW\0\0" + len(PIXELS).to_bytes(4, "little") + PIXELS
    return data, verify.check(data, identity, prof, PIXELS)


def test_a_clean_output_verifies():
    assert _output(_source())[1] == []


@pytest.mark.parametrize("text, what", [
    ("seen by Ashworth", "PatientName component"),
    ("SEEN BY ASHWORTH", "PatientName component"),
    ("ref RWX3894407", "AccessionNumber"),
    ("id=44173359;", "PatientID"),
    ("Royal Wessex Infirmary radiology", "InstitutionName"),
    ("born 19571130", "PatientBirthDate"),
])
def test_an_identifier_left_in_kept_text_fails(text, what):
    _, problems = _output(_source(), change=lambda ds: setattr(ds, "Manufacturer", text))
    assert any(what in p for p in problems), problems


def test_names_match_as_whole_words_and_long_ids_anywhere():
    _, problems = _output(_source(), change=lambda ds: setattr(ds, "Manufacturer",
                                                              "Ashworthy Margaretta"))
    assert problems == []
    _, problems = _output(_source(), change=lambda ds: setattr(ds, "Manufacturer",
                                                              "XRWX3894407Y"))
    assert any("AccessionNumber" in p for p in problems)


def test_a_longer_name_does_not_hide_a_shorter_one_at_the_same_place():
    source = _source(name="Ann^Annabel")
    _, problems = _output(source, change=lambda ds: setattr(ds, "Manufacturer", "Annabelle Ann"))
    assert any("PatientName component" in p for p in problems)


def test_identifiers_inside_nested_sequences_fail():
    def nest(ds):
        item = Dataset()
        item.RequestedProcedureDescription = "for Margaret"
        ds.RequestAttributesSequence = Sequence([item])
    _, problems = _output(_source(), change=nest)
    assert any("PatientName component" in p for p in problems)


def test_latin1_names_are_matched_in_their_character_set():
    source = _source("ISO_IR 100", name="Sjöström^Zoë")
    assert _output(source)[1] == []
    _, problems = _output(_source("ISO_IR 100", name="Sjöström^Zoë"),
                          change=lambda ds: setattr(ds, "Manufacturer", "Zoë SJöSTRöM"))
    assert any("PatientName component" in p for p in problems)


def test_the_input_uids_must_not_survive_unless_kept():
    _, problems = _output(_source(), change=lambda ds: setattr(
        ds, "ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.99.1.1"))
    assert any("StudyInstanceUID" in p for p in problems)
    _, problems = _output(_source(), change=lambda ds: setattr(
        ds, "ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.99.1.17"))
    assert problems == []  # a longer UID that starts with an input UID is another UID


def test_removed_private_and_marker_attributes_fail():
    def damage(ds):
        ds.OtherPatientIDs = "X"
        ds.add_new(0x00091010, "LO", "kept by mistake")
        del ds.PatientIdentityRemoved
    _, problems = _output(_source(), change=damage)
    text = "\n".join(problems)
    assert "OtherPatientIDs is present but the profile removes it" in text
    assert "private attribute (0009,1010)" in text
    assert "PatientIdentityRemoved is not YES" in text


def test_identifiers_in_the_pixel_data_are_not_the_header_scan_business():
    global PIXELS
    saved, PIXELS = PIXELS, b"Ashworth" * 4
    try:
        assert _output(_source())[1] == []
    finally:
        PIXELS = saved


def test_an_output_that_ends_inside_an_element_fails():
    prof = load_profile("ps315-basic")
    source = _source()
    identity = verify.identity_of(source, prof)
    engine = Engine(prof, SECRET)
    header = engine.to_bytes(engine.deidentify(source, Subject("SUBJ-0001", -10)))
    assert verify.check(header, identity, prof, None) == []
    problems = verify.check(header[:-1], identity, prof, None)
    assert problems and "does not parse" in problems[0]
    data, problems = _output(_source())
    assert problems == [] and data.startswith(header)
    problems = verify.check(data[:-2], identity, prof, PIXELS)  # pixel data cut short
    assert problems and "does not parse" in problems[0]


def test_an_output_that_does_not_parse_fails():
    data, _ = _output(_source())
    problems = verify.check(data[:128] + b"DICX" + data[132:], verify.identity_of(
        _source(), load_profile("ps315-basic")), load_profile("ps315-basic"), PIXELS)
    assert problems and "does not parse" in problems[0]

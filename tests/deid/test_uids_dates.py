"""UID remapping and date shifting."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from workbench.deid.dates import offset_days, shift_da, shift_dt
from workbench.deid.engine import Engine, Subject
from workbench.deid.files import read_source
from workbench.deid.uids import remap_uid
from workbench.profile import load_profile

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def test_uid_remap_is_keyed_deterministic_and_valid():
    uid = "1.2.392.200036.9116.2.6.1.3268.2051314068.1558478927.941955"
    a, b = remap_uid(uid, b"secret-one"), remap_uid(uid, b"secret-two")
    assert a == remap_uid(uid, b"secret-one") and a != b and a != uid
    for new in (a, b, remap_uid(uid, b"s", root="1.2.826.0.1.3680043.10.999")):
        assert len(new) <= 64
        assert all(part.isdigit() and (part == "0" or not part.startswith("0"))
                   for part in new.split("."))
    assert remap_uid(uid, b"s", root="1.2.826.0.1.3680043.10.999").startswith(
        "1.2.826.0.1.3680043.10.999.")
    assert a.startswith("2.25.")


def test_well_known_uids_are_left_alone():
    assert remap_uid(CT_STORAGE, b"s") == CT_STORAGE
    assert remap_uid("1.2.840.10008.1.2.1", b"s") == "1.2.840.10008.1.2.1"


def test_date_shift_keeps_intervals_and_times():
    days = offset_days(b"secret", "PATIENT-1", -3650, -365)
    assert -3650 <= days <= -365
    assert days == offset_days(b"secret", "PATIENT-1", -3650, -365)
    d1, d2 = shift_da("20230314", days), shift_da("20230612", days)
    from datetime import date

    as_date = lambda s: date(int(s[:4]), int(s[4:6]), int(s[6:]))  # noqa: E731
    assert (as_date(d2) - as_date(d1)).days == 90
    assert shift_dt("20230314101500.123456+0100", days).endswith("101500.123456+0100")
    assert shift_da("2023", days) is None and shift_da("20230231", days) is None


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("profile", ["ps315-basic", "rt-trial"])
def test_uids_in_kept_and_cleaned_sequences(profile, implicit, tmp_path):
    """Instance UIDs are remapped at any depth, class UIDs never (a vendor's own included),
    whatever the encoding."""
    study, frame, image = (f"1.2.826.0.1.3680043.10.999.{n}" for n in (1, 2, 3))
    vendor_class = "1.3.12.2.1107.5.9.1"  # Siemens CSA Non-Image Storage
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT_STORAGE, "1.2.826.0.1.3680043.10.999.4"
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = study, frame
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = vendor_class, image
    ds.ReferencedImageSequence = [ref]  # X/Z/U* in Table E.1-1
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = vendor_class, study
    frames = Dataset()
    frames.FrameOfReferenceUID, frames.RTReferencedStudySequence = frame, [item]
    ds.ReferencedFrameOfReferenceSequence = [frames]  # kept by rt-trial
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)

    secret = b"uid-test-secret"
    engine = Engine(load_profile(profile), secret)
    source = read_source(str(path))
    out = dcmread(BytesIO(engine.to_bytes(engine.deidentify(source.dataset, Subject("S-1", 0)))))
    new = {uid: remap_uid(uid, secret) for uid in (study, frame, image)}
    assert out.SOPClassUID == CT_STORAGE
    assert out.StudyInstanceUID == new[study] and out.FrameOfReferenceUID == new[frame]
    [ref] = out.ReferencedImageSequence
    assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (vendor_class, new[image])
    [frames] = out.ReferencedFrameOfReferenceSequence  # kept by rt-trial, else cleaned
    [item] = frames.RTReferencedStudySequence
    assert frames.FrameOfReferenceUID == new[frame]
    assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) == \
        (vendor_class, new[study])

"""Tests of the synthetic delivery generator."""

import csv
import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    ComprehensiveSRStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    MediaStorageDirectoryStorage,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
)

from workbench.examples import Planted, _overlay_size, _text_mask, generate
from workbench.pet import suv_bw_factor, suv_inputs

PRIVATE = re.compile(r"\(([0-9A-F]{4}),xx([0-9A-F]{2})\) (.+)")
TAG = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)")
CODECS = {None: "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}


@pytest.fixture(scope="module")
def three_sites(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """One patient per site and character set, small CT."""
    return generate(tmp_path_factory.mktemp("three"), patients=3, seed=7, ct_size=64)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def series_of(planted: Planted, patient: int, label: str) -> dict:
    for study in planted.patients[patient]["studies"]:
        for series in study["series"]:
            if series["folder"].rsplit("/", 1)[1].split("_")[0] == label:
                return series
    raise KeyError(label)


def read(planted: Planted, rel: str, **kwargs) -> Dataset:
    return dcmread(planted.delivery / rel, **kwargs)


def values_at(ds: Dataset, where: str) -> list[str]:
    """Every value of the attribute at ``where`` (see Planted.identifiers)."""
    if m := PRIVATE.fullmatch(where):
        block = ds.private_block(int(m[1], 16), m[3])
        return [str(block[int(m[2], 16)].value)]
    if m := TAG.fullmatch(where):
        return [str(ds[int(m[1] + m[2], 16)].value)]
    head, _, rest = where.partition("/")
    if head not in ds:
        return []
    if rest:
        return [v for item in ds[head].value for v in values_at(item, rest)]
    value = ds[head].value
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def check_identifier(planted: Planted, ident: dict) -> None:
    path = planted.delivery / ident["path"]
    value, where = ident["value"], ident["where"]
    patient = next(p for p in planted.patients if p["patient_id"] == ident["patient_id"])
    if where == "folder name":
        assert path.is_dir() and value in path.name
        return
    if where == "file name":
        assert path.is_file() and value in path.name
        return
    ds = dcmread(path)
    if "DirectoryRecordSequence" not in ds:
        assert ds.PatientID == ident["patient_id"]
    if where == "overlay":
        assert ident["in_pixels"]
        text = patient["ascii_name"].replace("^", ", ")
        assert value in text
        expected = _text_mask(text, (ds.Rows, ds.Columns), _overlay_size(ds.Rows))
        assert np.array_equal(ds.overlay_array(0x6000).astype(bool), expected)
    elif where == "pixels":
        assert ident["in_pixels"] and ds.BurnedInAnnotation == "YES"
        drawn = (*patient["ascii_name"].split("^"), patient["patient_id"], patient["birth_date"])
        assert value in drawn
        assert (ds.pixel_array[:100, :, 2] == 0).any() and ds.pixel_array[:100].max() == 255
    elif where == "EncapsulatedDocument":
        assert value.encode("ascii") in ds.EncapsulatedDocument
    else:
        assert not ident["in_pixels"]
        found = values_at(ds, where)
        assert any(value in v for v in found), (ident, found)


def test_generation_is_byte_identical(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", patients=2, seed=3, ct_slices=8, ct_size=64, bad_inputs=True)
    b = generate(tmp_path / "b", patients=2, seed=3, ct_slices=8, ct_size=64, bad_inputs=True)
    files_a, files_b = tree(a.root), tree(b.root)
    assert files_a.keys() == files_b.keys()
    assert all(files_a[k] == files_b[k] for k in files_a)
    c = generate(tmp_path / "c", patients=2, seed=4, ct_slices=8, ct_size=64)
    assert c.patients[0]["patient_id"] != a.patients[0]["patient_id"]


def test_writes_only_inside_out(tmp_path: Path) -> None:
    planted = generate(tmp_path / "nested" / "out", patients=1, ct_slices=2, ct_size=32)
    assert [p.name for p in tmp_path.iterdir()] == ["nested"]
    assert sorted(p.name for p in planted.root.iterdir()) == [
        "delivery",
        "events.csv",
        "planted.json",
        "subjects.csv",
    ]


def test_refuses_non_empty_delivery(tmp_path: Path) -> None:
    (tmp_path / "delivery").mkdir()
    generate(tmp_path, patients=1, ct_slices=2, ct_size=32)  # empty delivery folder is fine
    with pytest.raises(FileExistsError, match="not empty"):
        generate(tmp_path, patients=1, ct_slices=2, ct_size=32)
    with pytest.raises(ValueError, match="patients"):
        generate(tmp_path / "other", patients=0)


def test_planted_json_round_trip(example_delivery: Planted) -> None:
    loaded = Planted.from_json(example_delivery.root / "planted.json")
    assert loaded == example_delivery
    assert loaded.to_json() == (example_delivery.root / "planted.json").read_text(encoding="utf-8")
    assert str(example_delivery.root) not in loaded.to_json()


def test_modalities_and_sop_classes(example_delivery: Planted) -> None:
    expected = Counter(
        {
            ("CT", CTImageStorage): 40,
            ("PT", PositronEmissionTomographyImageStorage): 20,
            ("RTSTRUCT", RTStructureSetStorage): 1,
            ("RTPLAN", RTPlanStorage): 1,
            ("RTDOSE", RTDoseStorage): 1,
            ("PT", SecondaryCaptureImageStorage): 1,
            ("DOC", EncapsulatedPDFStorage): 1,
            ("SR", ComprehensiveSRStorage): 1,
            ("MR", MRImageStorage): 20,
        }
    )
    for patient in example_delivery.patients:
        folder = example_delivery.delivery / patient["folder"]
        found = Counter()
        for path in folder.rglob("*.dcm"):
            ds = dcmread(path, stop_before_pixels=True)
            assert ds.PatientID == patient["patient_id"]
            assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
            found[(ds.Modality, ds.SOPClassUID)] += 1
        assert found == expected
        assert len(patient["studies"]) == 2


def test_default_ct_geometry(example_delivery: Planted) -> None:
    ct = series_of(example_delivery, 0, "CT")
    slices = [read(example_delivery, f) for f in ct["files"]]
    assert len(slices) == 40
    first = slices[0]
    assert (first.Rows, first.Columns) == (512, 512)
    assert first.pixel_array.dtype == np.int16
    assert [float(v) for v in first.PixelSpacing] == pytest.approx([500 / 512] * 2)
    z = [float(ds.ImagePositionPatient[2]) for ds in slices]
    assert np.allclose(np.diff(z), -3.0)
    assert [ds.InstanceNumber for ds in slices] == list(range(1, 41))
    hu = first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)
    assert hu.min() == pytest.approx(-1000, abs=1) and hu.max() > 500  # air and spine
    assert len({ds.SOPInstanceUID for ds in slices}) == 40


def test_pet_attributes_and_philips_block(example_delivery: Planted) -> None:
    pet = series_of(example_delivery, 1, "PT")
    slices = [read(example_delivery, f) for f in pet["files"]]
    first = slices[0]
    assert (len(slices), first.Rows, first.Columns) == (20, 128, 128)
    assert first.Units == "BQML" and first.DecayCorrection == "START"
    assert {"DECY", "ATTN"} <= set(first.CorrectedImage)
    rp = first.RadiopharmaceuticalInformationSequence[0]
    assert rp.Radiopharmaceutical == "Fluorodeoxyglucose"
    assert float(rp.RadionuclideHalfLife) == 6586.2
    assert rp.RadionuclideCodeSequence[0].CodeMeaning == "^18^Fluorine"
    assert rp.RadiopharmaceuticalStartDateTime.startswith(first.SeriesDate)
    inputs = suv_inputs(first)
    minutes = (inputs["reference_datetime"] - inputs["injection_datetime"]).total_seconds() / 60
    assert 50 <= minutes <= 75
    assert first.AcquisitionTime == first.SeriesTime
    assert len({ds.RescaleSlope for ds in slices}) > 1
    factor = suv_bw_factor(first)
    block = first.private_block(0x7053, "Philips PET Private Group")
    assert float(block[0x00].value) == pytest.approx(factor, rel=1e-9)
    assert float(block[0x09].value) == 1.0
    assert example_delivery.patients[1]["suv_bw_factor"] == pytest.approx(factor)
    suv_max = max(float((ds.pixel_array * float(ds.RescaleSlope)).max()) * factor for ds in slices)
    assert 8.0 < suv_max < 12.0  # the tumour is planted at SUV 9


def test_rt_references_resolve(example_delivery: Planted) -> None:
    ct = series_of(example_delivery, 0, "CT")
    ct_slices = {ds.SOPInstanceUID: ds for ds in (read(example_delivery, f) for f in ct["files"])}
    frame = example_delivery.patients[0]["frame_of_reference_uid"]
    assert {ds.FrameOfReferenceUID for ds in ct_slices.values()} == {frame}
    pet = read(example_delivery, series_of(example_delivery, 0, "PT")["files"][0])
    assert pet.FrameOfReferenceUID == frame
    mr = read(example_delivery, series_of(example_delivery, 0, "MR")["files"][0])
    assert mr.FrameOfReferenceUID != frame

    struct = read(example_delivery, series_of(example_delivery, 0, "RTSTRUCT")["files"][0])
    ref_frame = struct.ReferencedFrameOfReferenceSequence[0]
    assert ref_frame.FrameOfReferenceUID == frame
    ref_study = ref_frame.RTReferencedStudySequence[0]
    assert ref_study.ReferencedSOPInstanceUID == ct_slices[next(iter(ct_slices))].StudyInstanceUID
    ref_series = ref_study.RTReferencedSeriesSequence[0]
    assert ref_series.SeriesInstanceUID == ct["uid"]
    contour_images = [item.ReferencedSOPInstanceUID for item in ref_series.ContourImageSequence]
    assert contour_images == ct["sop_uids"] and set(contour_images) == set(ct_slices)
    names = [roi.ROIName for roi in struct.StructureSetROISequence]
    assert names == ["GTV", "PTV", "Lung_L", "Lung_R", "SpinalCord"]
    assert len(struct.RTROIObservationsSequence) == len(names)
    for roi in struct.ROIContourSequence:
        assert roi.ContourSequence
        for contour in roi.ContourSequence:
            target = ct_slices[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
            points = np.array(contour.ContourData, dtype=float).reshape(-1, 3)
            assert len(points) == contour.NumberOfContourPoints
            assert np.allclose(points[:, 2], float(target.ImagePositionPatient[2]))

    plan = read(example_delivery, series_of(example_delivery, 0, "RTPLAN")["files"][0])
    assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == struct.SOPInstanceUID
    dose = read(example_delivery, series_of(example_delivery, 0, "RTDOSE")["files"][0])
    assert dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.SOPInstanceUID
    assert dose.FrameOfReferenceUID == frame
    grid = dose.pixel_array * float(dose.DoseGridScaling)
    assert grid.shape == (dose.NumberOfFrames, dose.Rows, dose.Columns)
    assert 50 < grid.max() <= 60.01


def test_character_sets_round_trip(three_sites: Planted) -> None:
    charsets = [p["charset"] for p in three_sites.patients]
    assert charsets == [None, "ISO_IR 100", "ISO_IR 192"]
    for index, patient in enumerate(three_sites.patients):
        path = three_sites.delivery / series_of(three_sites, index, "SR")["files"][0]
        ds = dcmread(path)
        assert ds.get("SpecificCharacterSet") == patient["charset"]
        assert str(ds.PatientName) == patient["name"]
        assert str(ds.ContentSequence[0].PersonName) == patient["name"]
        raw = path.read_bytes()
        assert patient["name"].encode(CODECS[patient["charset"]]) in raw
    latin = three_sites.patients[1]["name"]
    assert not latin.isascii()
    raw = (three_sites.delivery / series_of(three_sites, 1, "CT")["files"][0]).read_bytes()
    assert latin.encode("utf-8") not in raw
    greek = three_sites.patients[2]["name"]
    assert any("\u0370" <= ch <= "\u03ff" for ch in greek)


@pytest.mark.parametrize("fixture", ["three_sites", "example_delivery", "bad_delivery"])
def test_every_planted_identifier_is_where_recorded(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    planted: Planted = request.getfixturevalue(fixture)
    kinds = {"name", "id", "date", "address", "phone", "accession", "institution", "uid"}
    assert planted.identifiers
    for ident in planted.identifiers:
        assert ident["kind"] in kinds
        assert ident["in_pixels"] == (ident["where"] in ("overlay", "pixels"))
        if ident["kind"] == "name":
            assert len(ident["value"]) >= 3
        check_identifier(planted, ident)
    per_patient = Counter(i["patient_id"] for i in planted.identifiers)
    assert set(per_patient) == {p["patient_id"] for p in planted.patients}
    wheres = {i["where"] for i in planted.identifiers}
    assert {
        "PatientName",
        "RequestAttributesSequence/RequestedProcedureID",
        "(0009,xx10) GEMS_IDEN_01",
        "(0029,xx60) SIEMENS MEDCOM HEADER",
        "(2001,xx9C) Philips Imaging DD 001",
        "folder name",
        "file name",
        "overlay",
        "pixels",
        "EncapsulatedDocument",
    } <= wheres


def test_lookup_tables(three_sites: Planted) -> None:
    with three_sites.subjects_csv.open(encoding="utf-8", newline="") as fh:
        subjects = list(csv.DictReader(fh))
    with three_sites.events_csv.open(encoding="utf-8", newline="") as fh:
        events = list(csv.DictReader(fh))
    assert list(subjects[0]) == ["PatientID", "subject_id", "site_id"]
    assert list(events[0]) == ["AccessionNumber", "image_event_id", "PatientID"]
    assert [s["PatientID"] for s in subjects] == [p["patient_id"] for p in three_sites.patients]
    assert [s["subject_id"] for s in subjects] == ["SITE01-0001", "SITE02-0001", "SITE03-0001"]
    assert all(s["subject_id"].startswith(s["site_id"]) for s in subjects)
    assert len(events) == 6 and all(re.fullmatch(r"EV\d{6}", e["image_event_id"]) for e in events)
    assert len({e["image_event_id"] for e in events}) == 6
    for patient in three_sites.patients:
        mine = [e["AccessionNumber"] for e in events if e["PatientID"] == patient["patient_id"]]
        assert mine == patient["accession_numbers"]


def test_two_studies_with_interval(three_sites: Planted) -> None:
    for patient in three_sites.patients:
        petct, mr = (date.fromisoformat(d) for d in patient["study_dates"])
        assert (mr - petct).days == 90
        assert len(set(patient["accession_numbers"])) == 2
        assert len(set(patient["study_uids"])) == 2
    mr = series_of(three_sites, 0, "MR")
    first = dcmread(three_sites.delivery / mr["files"][0])
    assert (len(mr["files"]), first.Rows, first.Columns) == (20, 256, 256)
    assert first.StudyDate == three_sites.patients[0]["study_dates"][1]


def test_pdf_is_well_formed(three_sites: Planted) -> None:
    ds = dcmread(three_sites.delivery / series_of(three_sites, 1, "DOC")["files"][0])
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    pdf = bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF\n")
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref:].startswith(b"xref\n")
    entries = pdf[xref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert three_sites.patients[1]["ascii_name"].split("^")[0].encode() in pdf


def test_bad_inputs(bad_delivery: Planted) -> None:
    delivery = bad_delivery.delivery
    problems = {b["problem"]: b for b in bad_delivery.bad_files}
    assert set(problems) == {
        "not_dicom",
        "dicomdir",
        "truncated",
        "missing_patient_id",
        "duplicate",
        "conflicting_sop_instance_uid",
    }
    assert all((delivery / b["path"]).is_file() for b in bad_delivery.bad_files)

    with pytest.raises(InvalidDicomError):
        dcmread(delivery / problems["not_dicom"]["path"])

    dicomdir_path = delivery / problems["dicomdir"]["path"]
    dicomdir = dcmread(dicomdir_path)
    assert dicomdir.file_meta.MediaStorageSOPClassUID == MediaStorageDirectoryStorage
    records = dicomdir.DirectoryRecordSequence
    assert [r.DirectoryRecordType for r in records] == ["PATIENT", "STUDY", "SERIES", "IMAGE"]
    first = dicomdir.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity
    assert first == records[0].seq_item_tell
    for parent, child in zip(records[:-1], records[1:]):
        assert parent.OffsetOfReferencedLowerLevelDirectoryEntity == child.seq_item_tell
    assert records[0].PatientID == bad_delivery.patients[0]["patient_id"]
    duplicate = problems["duplicate"]
    referenced = dicomdir_path.parent.joinpath(*records[3].ReferencedFileID)
    assert referenced == delivery / duplicate["path"]
    assert (delivery / duplicate["path"]).read_bytes() == (delivery / duplicate["of"]).read_bytes()

    truncated = problems["truncated"]
    data = (delivery / truncated["path"]).read_bytes()
    source = (delivery / truncated["of"]).read_bytes()
    assert source.startswith(data) and len(data) == len(source) // 2

    ds = dcmread(delivery / problems["missing_patient_id"]["path"])
    assert ds.Modality == "CT" and "PatientID" not in ds and ds.PatientName

    conflict = problems["conflicting_sop_instance_uid"]
    new, old = dcmread(delivery / conflict["path"]), dcmread(delivery / conflict["of"])
    assert new.SOPInstanceUID == old.SOPInstanceUID
    assert not np.array_equal(new.pixel_array, old.pixel_array)

    ct = series_of(bad_delivery, 0, "CT")
    assert len(ct["files"]) == 40
    assert dcmread(delivery / ct["files"][0]).Rows == 64

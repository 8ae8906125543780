"""An adversarial corpus: a subject's identifiers written into kept text in the forms
people use, under every shipped profile. Each file must be released, and no form may
reach the output; the verifier must flag each form on its own."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workbench import verify
from workbench.deid.run import deidentify_delivery
from workbench.profile import list_profiles, load_profile
from workbench.store import Store

#: (case, charset, PatientName, PatientID, PatientBirthDate, texts planted, forms that must go)
CASES = [
    ("japanese", ["", "ISO 2022 IR 87"], "山田^太郎", "JP-00017", "19550101",
     ["山田太郎様の検査", "所見 太郎"], ["山田太郎", "太郎"]),
    ("chinese", "ISO_IR 192", "王^小明", "CN-00023", "19600202",
     ["王小明复查", "患者小明"], ["王小明", "小明"]),
    ("korean", "ISO_IR 192", "김^민준", "KR-00031", "19700303", ["김민준 추적"], ["김민준"]),
    ("short parts", "ISO_IR 100", "Li^Wei", "SP-00041", "19710404",
     ["Follow-up Li Wei", "seen by Wei, Li"], ["Li Wei", "Wei, Li"]),
    ("two-letter", "ISO_IR 100", "Ng^Jo", "SP-00042", "19720505", ["Jo Ng scan"], ["Jo Ng"]),
    ("transliterated", "ISO_IR 100", "Müller^Jürgen", "TR-00051", "19730606",
     ["Mueller Juergen", "Muller baseline", "MUELLER"], ["Mueller", "Juergen", "Muller"]),
    ("nordic", "ISO_IR 100", "Søren^Åse", "TR-00052", "19740707", ["Soeren Aase", "Soren"],
     ["Soeren", "Aase", "Soren"]),
    ("dates", "ISO_IR 100", "Kowalski^Jan", "DT-00061", "19470312",
     ["born 1947-03-12", "DOB 03/12/1947", "DOB 12/03/1947", "12.03.1947", "12 Mar 1947",
      "March 12, 1947"],
     ["1947-03-12", "03/12/1947", "12/03/1947", "12.03.1947", "12 Mar 1947", "March 12, 1947"]),
    ("embedded ids", "ISO_IR 100", "Nakamura^Aiko", "48213", "19800808",
     ["MRN48213", "ref:48213/CT"], ["48213"]),
    ("embedded alnum id", "ISO_IR 100", "Okafor^Chidi", "AB12345", "19810909",
     ["refAB12345x", "AB12345-followup"], ["AB12345"]),
]
PROFILES = [name for name, _, _ in list_profiles()]


def _texts(ds: Dataset) -> list[str]:
    out = []
    for elem in ds.iterall():
        if elem.VR in ("LO", "SH", "LT", "ST", "UT", "UC", "PN") and elem.value is not None:
            out += [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
    return out


def _file(folder: Path, case) -> Path:
    name, charset, pn, pid, birth, planted, _ = case
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID, ds.PatientBirthDate = "CT", pn, pid, birth
    ds.AccessionNumber = f"ACC{pid}"[-16:]
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20240101", 1, 1
    text = " / ".join(planted)
    ds.StudyDescription, ds.SeriesDescription = text[:64], text[:64]
    ds.ProtocolName, ds.ImageComments = text[:64], text
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D3000", "SRT", text[:64]
    ds.AnatomicRegionSequence = Sequence([code])
    ds.ProcedureCodeSequence = Sequence([code])
    path = folder / f"{name.replace(' ', '_')}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("adversarial")
    src = root / "src"
    src.mkdir()
    for case in CASES:
        _file(src, case)
    lookup = root / "lookup.csv"
    with open(lookup, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["PatientID", "AccessionNumber", "subject_id", "image_event_id"])
        for n, case in enumerate(CASES):
            w.writerow([case[3], f"ACC{case[3]}"[-16:], f"TRIAL-{n:03}", f"EV{n:04}"])
    return src, lookup


@pytest.mark.parametrize("profile", PROFILES)
def test_the_adversarial_corpus_is_released_without_any_form_of_an_identifier(
        corpus, tmp_path, profile):
    src, lookup = corpus
    report = deidentify_delivery(src, tmp_path / "out", profile, store=Store(tmp_path / "s.db"),
                                 lookup=str(lookup), site="SITE01", progress=False)
    assert not report.quarantined, [(Path(o.source).name, o.reason) for o in report.quarantined]
    outputs = {Path(o.source).stem: dcmread(tmp_path / "out" / o.output)
               for o in report.outcomes}
    leaks = []
    for name, *_, forms in CASES:
        texts = _texts(outputs[name.replace(" ", "_")])
        leaks += [(name, form, t) for form in forms for t in texts
                  if form.casefold() in t.casefold()]
    assert not leaks


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_verifier_flags_every_form_on_its_own(tmp_path, case):
    source = dcmread(_file(tmp_path, case))
    profile = load_profile("ps315-basic")
    identity = verify.identity_of(source, profile)
    for form in case[6]:
        out = Dataset()
        out.file_meta = FileMetaDataset()
        out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out.SpecificCharacterSet = case[1]
        out.SOPClassUID, out.SOPInstanceUID = source.SOPClassUID, generate_uid()
        out.PatientIdentityRemoved, out.DeidentificationMethod = "YES", "test"
        out.ImageComments = f"note {form} end"
        path = tmp_path / "out.dcm"
        out.save_as(path, enforce_file_format=True)
        problems = verify.check(path.read_bytes(), identity, profile, None)
        assert any("found in" in p for p in problems), (form, problems)

"""Shipped profiles: loading, validation errors, `profiles show`, and the LTP2 table row by row."""

from __future__ import annotations

import csv
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from workbench.cli import main
from workbench.deid.engine import Engine, Subject
from workbench.errors import ProfileError
from workbench.profile import list_profiles, load_profile
from workbench.ps315 import Code

LTP2 = list(csv.DictReader(open(Path(__file__).parent / "data" / "ltp2_table.csv")))
SHIPPED = ["ps315-basic", "ltp2-jpl", "eucanimage-strict", "eucanimage-pet", "uk-pet-core-lab",
           "rt-trial"]


def test_shipped_profiles_listed_and_load():
    names = {n for n, _, _ in list_profiles()}
    assert set(SHIPPED) <= names
    for name in SHIPPED:
        p = load_profile(name)
        assert p.plan.actions and len(p.hash) == 64


@pytest.mark.parametrize("name", SHIPPED)
def test_profiles_show_prints_every_table_row(name, capsys):
    assert main(["profiles", "show", name]) == 0
    out = capsys.readouterr().out
    assert "(0010,0010)" in out and "(GGGG,EEEE)" in out
    from workbench.ps315 import table_rows

    missing = [r["tag"] for r in table_rows() if r["tag"] not in out]
    assert not missing


def test_composite_resolution_shown():
    from workbench.review import plan_table

    table = plan_table(load_profile("ps315-basic")).set_index("tag")
    assert table.loc["(0008,1140)", "action"] == "keep sequence, hash UIDs inside"  # X/Z/U*
    assert table.loc["(0008,0080)", "action"] == "dummy"  # X/Z/D -> D
    assert "X/Z/D -> D" in table.loc["(0008,0080)", "rule"]


def test_a_rule_word_means_its_code_and_the_code_reads_as_written(tmp_path):
    words = {c.word: c for c in Code if c.word}
    assert sorted(words) == ["clean", "dummy", "empty", "hash_uid", "keep", "remove",
                             "shift_date"]
    rules = "".join(f"  {kw}: {word}\n" for kw, word in zip(
        ["OperatorsName", "StudyDescription", "PatientName", "InstitutionName",
         "PerformedProcedureStepDescription", "StudyInstanceUID", "StudyDate"], sorted(words)))
    path = tmp_path / "words.yaml"
    path.write_text(f"name: words\nbase: ps315-basic\nattributes:\n{rules}")
    got = {a.rule.rsplit(": ", 1)[1]: a.code for a in load_profile(path).attributes.values()}
    assert got == words
    assert all(code == code.value and f"{code}" == code.value for code in Code)


@pytest.mark.parametrize("text, message", [
    ("name: bad\noptions: [retain_everything]\n", "unknown option"),
    ("name: bad\nattributes: {NotAKeyword: keep}\n", "unknown attribute"),
    ("name: bad\nattributes: {PatientName: scramble}\n", "is not an action"),
    ("name: bad\nprivate: [{group: '7054', creator: X, action: keep}]\n", "must be odd"),
    ("name: bad\nsubject_id: {from: lookup, key: PatientID}\n", "needs key"),
    ("name: bad\nbase: bad\n", "loops back"),
    ("name: bad\noptions: [retain_long_full_dates, retain_long_modified_dates]\n", "not both"),
    ("name: bad\nfrobnicate: 1\n", "unknown key"),
])
def test_bad_profiles_are_refused_with_a_reason(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_unknown_profile_name_lists_shipped():
    with pytest.raises(ProfileError, match="ltp2-jpl"):
        load_profile("no-such-profile")


def _ltp2_dataset() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for n, row in enumerate(LTP2):
        if not row["tag"] or row["expected"] == "not_dicom":
            continue
        tag = int(row["tag"][1:5] + row["tag"][6:10], 16)
        vr = dictionary_VR(tag).split(" or ")[0]
        if tag == 0x00080005:
            ds.SpecificCharacterSet = "ISO_IR 100"
            continue
        value = {"DA": "20240301", "TM": "074654.000", "DT": "20240301074654", "PN": f"Person{n}^Given{n}",
                 "UI": f"1.2.392.200036.9116.2.6.1.{n}", "DS": "5.0", "IS": "3", "CS": "VALUE",
                 "US": 16, "SS": 1, "AS": "056Y", "FD": 1.0, "FL": 1.0}.get(vr, f"V{n}")
        if vr == "SQ":
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "CTCH", "LOCAL", "CT"
            value = Sequence([item])
        ds.add_new(tag, vr, value)
    ds.PatientID, ds.AccessionNumber = "MRN0001", "3268852"
    return ds


def test_every_ltp2_row():
    profile = load_profile("ltp2-jpl")
    engine = Engine(profile, b"ltp2-secret-0123456789abcdef")
    src = _ltp2_dataset()
    subject = Subject("EV123456", 0, {"subject_id": "EV123456", "image_event_id": "EV123456",
                                      "site_id": "SITE01"})
    out = dcmread(BytesIO(engine.to_bytes(engine.deidentify(_ltp2_dataset(), subject))))
    wrong = []
    for row in LTP2:
        if not row["tag"] or row["expected"] == "not_dicom":
            continue
        tag = int(row["tag"][1:5] + row["tag"][6:10], 16)
        before, after = src.get(tag), out.get(tag)
        expected = row["expected"]
        if expected == "keep":
            ok = after is not None and (after.VR == "SQ" and len(after.value) == len(before.value)
                                        or after.value == before.value)
        elif expected == "remove":
            ok = after is None
        elif expected == "event_id":
            ok = after is not None and str(after.value) == "EV123456"
        elif expected == "unspecified":
            ok = after is not None and str(after.value) == "Unspecified"
        else:
            raise AssertionError(f"unknown expectation {expected}")
        if not ok:
            wrong.append(f"{row['tag']} {row['name']}: expected {expected}, "
                         f"{getattr(before, 'value', None)!r} -> {getattr(after, 'value', None)!r}")
    assert not wrong, "\n".join(wrong)
    # the MRN survives nowhere, and the accession number only as the event ID
    text = out.to_json()
    assert "MRN0001" not in text and "3268852" not in text


def test_ltp2_labcas_rows_keep_their_dicom_meaning():
    text = (Path(__file__).parents[1] / "profiles" / "ltp2-jpl.yaml").read_text()
    assert "LabCAS" in text
    plan = load_profile("ltp2-jpl").plan
    for tag in (0x00180015, 0x00180022, 0x00180050):  # BodyPartExamined, ScanOptions, SliceThickness
        assert plan.actions[tag].code == Code.KEEP

"""Lookup tables: duplicates and shared IDs are refused with the rows named; UTF-8 only."""

from __future__ import annotations

import pytest

from workbench.deid.pseudonyms import Lookup
from workbench.errors import WorkbenchError


def _table(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "lookup.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_key_given_twice_is_refused_with_both_rows(tmp_path):
    path = _table(tmp_path, "PatientID,subject\nP1,S-001\nP2,S-002\nP1,S-003\n")
    with pytest.raises(WorkbenchError, match=r"'P1' twice \(rows 2 and 4\)"):
        Lookup.from_csv(path, "PatientID", "subject")


def test_two_patients_mapped_to_one_subject_are_refused_unless_the_profile_allows(tmp_path):
    path = _table(tmp_path, "PatientID,subject\nP1,S-001\nP2,S-001\n")
    with pytest.raises(WorkbenchError, match=r"'P1' \(row 2\) and 'P2' \(row 3\) to one subject"):
        Lookup.from_csv(path, "PatientID", "subject")
    assert Lookup.from_csv(path, "PatientID", "subject", shared_ids=True).rows["P2"]["subject"] \
        == "S-001"


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_utf8_with_or_without_a_bom_is_read(tmp_path, bom):
    path = _table(tmp_path, f"{bom}PatientID,subject\nMüller-7,S-001\n,S-009\n")
    table = Lookup.from_csv(path, "PatientID", "subject")
    assert table.rows == {"Müller-7": {"PatientID": "Müller-7", "subject": "S-001"}}


@pytest.mark.parametrize("encoding, named", [("latin-1", "Latin-1"), ("utf-16", "UTF-16")])
def test_other_encodings_are_refused_naming_what_to_convert_from(tmp_path, encoding, named):
    path = _table(tmp_path, "PatientID,subject\nMüller-7,S-001\n", encoding)
    with pytest.raises(WorkbenchError, match=f"not UTF-8.*{named}"):
        Lookup.from_csv(path, "PatientID", "subject")

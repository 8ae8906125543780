"""Pseudonyms from lookup tables, keyed hashes and per-site sequences."""

from __future__ import annotations

import pytest

from workbench.deid.pseudonyms import Lookup, assign
from workbench.errors import WorkbenchError
from workbench.profile import load_profile
from workbench.store import Store

KEYS = {f"MRN{i:03d}": (f"MRN{i:03d}", f"Doe^Pat{i}") for i in range(12)}
SECRET = b"pseudonym-test-secret-000000000"


def test_sequence_numbers_do_not_depend_on_order(tmp_path):
    profile = load_profile("rt-trial")
    forward = assign(profile, Store(tmp_path / "a.sqlite"), SECRET, dict(KEYS), None,
                     {"site_id": "SITE01"})[0]
    backward = assign(profile, Store(tmp_path / "b.sqlite"), SECRET,
                      dict(reversed(list(KEYS.items()))), None, {"site_id": "SITE01"})[0]
    assert forward == backward
    assert sorted(forward.values()) == [f"SITE01-{i:04d}" for i in range(1, 13)]


def test_sequence_continues_and_keeps_existing_links(tmp_path):
    profile, store = load_profile("rt-trial"), Store(tmp_path / "s.sqlite")
    first = assign(profile, store, SECRET, dict(list(KEYS.items())[:5]), None,
                   {"site_id": "SITE01"})[0]
    second = assign(profile, store, SECRET, dict(KEYS), None, {"site_id": "SITE01"})[0]
    assert all(second[k] == v for k, v in first.items())
    assert sorted(second.values())[-1] == "SITE01-0012"


def test_hash_pseudonyms_are_keyed(tmp_path):
    profile = load_profile("ps315-basic")
    a = assign(profile, Store(tmp_path / "a.sqlite"), SECRET, dict(KEYS), None, {})[0]
    b = assign(profile, Store(tmp_path / "b.sqlite"), b"another-secret-000000000000", dict(KEYS),
               None, {})[0]
    assert a["MRN001"].startswith("SUBJ-") and a["MRN001"] != b["MRN001"]
    assert len(set(a.values())) == len(KEYS)


def test_lookup_missing_key_is_reported_never_guessed(tmp_path):
    csv = tmp_path / "lookup.csv"
    csv.write_text("PatientID,subject_id\nMRN000,ANIM-001\n")
    profile = load_profile("uk-pet-core-lab")
    found, missing = assign(profile, Store(tmp_path / "s.sqlite"), SECRET, dict(KEYS),
                            Lookup.from_csv(csv, "PatientID"), {})
    assert found == {"MRN000": "ANIM-001"}
    assert set(missing) == set(KEYS) - {"MRN000"}
    assert "lookup" in missing["MRN001"]


def test_lookup_without_key_column_is_refused(tmp_path):
    csv = tmp_path / "lookup.csv"
    csv.write_text("mrn,subject_id\nMRN000,ANIM-001\n")
    with pytest.raises(WorkbenchError, match="no 'PatientID' column"):
        Lookup.from_csv(csv, "PatientID")

"""The review tables over a de-identified example delivery (uk-pet-core-lab)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread

from support import Curated
from workbench.review import (ACTION_COLOURS, ACTIONS, ReviewError, catalog_table,
                              change_summary, distinct_values, normalise, pair_outputs,
                              pet_check, phi_scan, study_table, style_actions, tag_diff)
from workbench.catalog import scan
from workbench.store import Store



def written(curated: Curated) -> pd.DataFrame:
    return curated.pairs[curated.pairs["state"] == "written"]


def row(diff: pd.DataFrame, path: str) -> pd.Series:
    found = diff[diff["path"] == path]
    assert len(found) == 1, f"{path} not in the diff"
    return found.iloc[0]


# --- catalog ---------------------------------------------------------------------------

def test_catalog_lists_every_series_of_the_delivery(curated: Curated):
    table = catalog_table(curated.instances)
    for patient in curated.planted.patients:
        for study in patient["studies"]:
            for series in study["series"]:
                found = table[table["series_uid"] == series["uid"]]
                assert len(found) == 1
                got = found.iloc[0]
                assert got["modality"] == series["modality"]
                assert got["instances"] == len(series["files"])
                assert got["study_date"] == study["study_date"]
                assert got["sop_class"] == series["sop_class_uid"]
                assert got["patient_id"] == patient["patient_id"]
    pdf = table[table["modality"] == "DOC"].iloc[0]
    assert pdf["sop_class_name"] == "Encapsulated PDF Storage"


def test_study_table_counts_series_and_files(curated: Curated):
    studies = study_table(catalog_table(curated.instances))
    assert len(studies) == sum(len(p["studies"]) for p in curated.planted.patients)
    assert studies["instances"].sum() == len(curated.instances)
    petct = studies[studies["modalities"].str.contains("PT")].iloc[0]
    assert {"CT", "PT", "SR"} <= set(petct["modalities"].split(", "))


def test_empty_catalog_gives_empty_tables_with_columns():
    table = catalog_table([])
    assert table.empty and "sop_class_name" in table.columns
    assert study_table(table).empty


# --- pairs -----------------------------------------------------------------------------

def test_pairs_from_the_store_match_the_report(curated: Curated):
    by_store = pair_outputs(curated.instances, store=Store(curated.store_path),
                            profile=curated.profile)
    by_report = curated.pairs
    verified = by_store[by_store["output"].notna()].set_index("source")["output"]
    done = written(curated).set_index("source")["output"]
    assert len(verified) == len(done) > 0
    assert verified.sort_index().to_dict() == done.sort_index().to_dict()
    skipped = by_report[by_report["state"] == "skipped"]
    assert skipped["reason"].str.contains("not selected|excluded").all()


def test_pairs_from_a_catalog_of_a_relative_path(curated: Curated, monkeypatch):
    monkeypatch.chdir(curated.planted.delivery.parent)
    instances, _ = scan("delivery")
    pairs = pair_outputs(instances, report=curated.report)
    assert not pairs["source"].iloc[0].startswith("/")
    assert (pairs["state"] == "written").sum() == len(written(curated))


def test_pairs_need_a_report_or_a_store(curated: Curated):
    with pytest.raises(ReviewError, match="report, or the store"):
        pair_outputs(curated.instances)


# --- tag diff --------------------------------------------------------------------------

def test_tag_diff_shows_values_actions_and_rules(curated: Curated):
    pet = curated.series("PT", "PET")
    src, out = pet["source"].iloc[0], pet["output"].iloc[0]
    diff = tag_diff(src, out, curated.profile)
    assert list(diff.columns) == ["tag", "keyword", "before", "after", "action", "rule",
                                  "path", "VR"]  # key columns first
    subject = curated.planted.patients[0]["subject_id"]
    name = row(diff, "PatientName")
    assert name["action"] == "replaced" and name["after"] == subject
    assert name["before"] == str(dcmread(src).PatientName)
    assert "uk-pet-core-lab: PatientName" in name["rule"]
    nested = row(diff, "OtherPatientIDsSequence[0].PatientID")
    assert nested["action"] == "removed"
    assert nested["rule"].startswith("inside OtherPatientIDsSequence")
    kept = row(diff, '(7053,"Philips PET Private Group",00)')
    assert kept["action"] == "retained" and "keep" in kept["rule"]
    dropped = row(diff, '(2001,"Philips Imaging DD 001",9C)')
    assert dropped["action"] == "removed" and dropped["before"] == name["before"]
    assert row(diff, "PatientWeight")["action"] == "retained"
    marker = row(diff, "PatientIdentityRemoved")
    assert marker["action"] == "added" and marker["after"] == "YES"
    shifted = row(diff, "StudyDate")
    assert shifted["action"] == "replaced" and "retain_long_modified_dates" in shifted["rule"]


def test_tag_diff_actions_follow_the_rules_that_fired(curated: Curated):
    """Every attribute the profile removes is gone, every one it keeps is unchanged."""
    for _, pair in written(curated).groupby("series_uid").head(1).iterrows():
        diff = tag_diff(pair["source"], pair["output"], curated.profile)
        removes = diff[diff["rule"].str.contains(r"basic profile: X \(|: remove$")]
        assert (removes["action"] == "removed").all(), removes
        keeps = diff[diff["rule"].str.contains(r": K \(Table|: keep$")
                     & (diff["VR"] != "SQ")]
        assert (keeps["action"] == "retained").all(), keeps
        assert set(diff["action"]) <= set(ACTIONS)


def test_tag_diff_of_an_unreadable_file_says_so(curated: Curated, tmp_path: Path):
    missing = tmp_path / "gone.dcm"
    with pytest.raises(ReviewError, match="cannot read"):
        tag_diff(missing, missing)


# --- summary ----------------------------------------------------------------------------

def test_change_summary_over_the_delivery(curated: Curated):
    done = curated.pairs[curated.pairs["output"].notna()]  # quarantined outputs too
    assert (done["state"] == "quarantined").any()
    summary = change_summary(curated.pairs, curated.profile, progress=False)
    name = summary[summary["attribute"] == "PatientName"].iloc[0]
    assert name["files"] == name["replaced"] == len(done)
    nested = summary[summary["attribute"] == "OtherPatientIDsSequence.PatientID"].iloc[0]
    assert nested["removed"] == nested["files"] > 0
    marker = summary[summary["attribute"] == "PatientIdentityRemoved"].iloc[0]
    assert marker["added"] == len(done)
    counts = summary[list(ACTIONS)].sum(axis=1)
    assert (counts == summary["files"]).all()


def test_change_summary_per_series_and_study(curated: Curated):
    per_series = change_summary(curated.pairs, curated.profile, by="series", progress=False)
    ct = per_series[(per_series["attribute"] == "PatientID")
                    & per_series["series"].str.startswith("CT")]
    assert len(ct) == 2 and (ct["replaced"] == 6).all()
    per_study = change_summary(curated.pairs, curated.profile, by="study", per_series=1,
                               progress=False)
    sop = per_study[per_study["attribute"] == "SOPInstanceUID"]
    assert len(sop) == 2
    assert (sop["files"] == 3).all()  # CT, PET and the quarantined screen capture
    with pytest.raises(ReviewError, match="by must be one of"):
        change_summary(curated.pairs, by="patient")


# --- PHI scan -------------------------------------------------------------------------------

def test_phi_scan_finds_planted_identifiers_before_and_none_after(curated: Curated):
    done = written(curated)
    scan = phi_scan(done["source"], done["output"], progress=False)
    patient = curated.planted.patients[0]
    names = scan[(scan["attribute"] == "PatientName") & (scan["value"] == patient["name"])]
    assert names["found"].tolist() == ["only before"]
    assert names["before"].iloc[0] == len(done[done["source"].str.contains(patient["folder"])])
    nested = scan[scan["attribute"] == "OtherPatientIDsSequence.PatientID"]
    assert not nested.empty and (nested["found"] == "only before").all()
    private = scan[scan["attribute"] == '(2001,"Philips Imaging DD 001",9C)']
    assert set(private["value"]) == {p["name"] for p in curated.planted.patients}
    creators = scan[scan["keyword"] == "PrivateCreator"].set_index("value")["found"]
    assert creators["Philips PET Private Group"] == "both"
    assert creators["SIEMENS MEDCOM HEADER"] == "only before"
    planted = {i["value"] for i in curated.planted.identifiers if i["kind"] != "uid"}
    still = scan[(scan["found"] == "both") & scan["value"].isin(planted)]
    assert still.empty, still


def test_phi_scan_keeps_item_indices_when_asked(curated: Curated):
    files = written(curated)["source"].iloc[:3]
    indexed = distinct_values(files, indexed=True, progress=False)
    merged = distinct_values(files, progress=False)
    assert "OtherPatientIDsSequence[0].PatientID" in set(indexed["attribute"])
    assert "OtherPatientIDsSequence.PatientID" in set(merged["attribute"])
    assert set(indexed["attribute"].map(normalise)) == set(merged["attribute"])
    assert not indexed["VR"].eq("SQ").any()


# --- PET -----------------------------------------------------------------------------------

def test_pet_check_reports_surviving_suv_inputs(curated: Curated):
    check = pet_check(curated.pairs)
    pet = check[check["series"].str.contains("PET WB")]
    assert len(pet) == 2
    for _, r in pet.iterrows():
        assert [r[k] for k in ("weight_kg", "total_dose_bq", "half_life_s", "injection_time",
                               "units", "decay_correction")] == ["kept"] * 6
        assert r["suv_same"] and r["problem"] == ""
    patient = curated.planted.patients[0]
    first = check[check["series_uid"] == curated.series("PT", "PET")["series_uid"].iloc[0]]
    assert math.isclose(first["suv_before"].iloc[0], patient["suv_bw_factor"], rel_tol=1e-6)


def test_pet_check_flags_a_lost_weight(curated: Curated, tmp_path: Path):
    pet = curated.series("PT", "PET").iloc[:1].copy()
    damaged = tmp_path / "no-weight.dcm"
    shutil.copy(pet["output"].iloc[0], damaged)
    ds = dcmread(damaged)
    del ds.PatientWeight
    ds.save_as(damaged)
    pet["output"] = str(damaged)
    r = pet_check(pet).iloc[0]
    assert r["weight_kg"] == "removed" and r["units"] == "kept"
    assert not r["suv_same"] and math.isnan(r["suv_after"])
    assert "PatientWeight" in r["problem"]


# --- styling -------------------------------------------------------------------------------

def test_styled_views_colour_by_action(curated: Curated):
    pair = written(curated).iloc[0]
    diff = tag_diff(pair["source"], pair["output"], curated.profile)
    html = style_actions(diff).to_html()
    for action in ("removed", "replaced", "added"):
        assert ACTION_COLOURS[action] in html
    summary = pd.DataFrame({"attribute": ["A", "B"], "removed": [0, 3], "retained": [2, 0]})
    styled = style_actions(summary).to_html()
    assert styled.count(ACTION_COLOURS["removed"]) == 1
    assert styled.count(ACTION_COLOURS["retained"]) == 1


def test_pairs_explain_files_without_output(tmp_path: Path):
    from workbench.deid.run import deidentify_delivery
    from workbench.examples import generate

    planted = generate(tmp_path / "bad", patients=1, seed=2, ct_slices=3, ct_size=32,
                       bad_inputs=True)
    report = deidentify_delivery(planted.delivery, tmp_path / "out", "uk-pet-core-lab",
                                 store=Store(tmp_path / "state.sqlite"),
                                 lookup=str(planted.subjects_csv), progress=False)
    instances, _ = scan(planted.delivery)
    pairs = pair_outputs(instances, report=report).set_index("source")
    bad = {b["problem"]: str(planted.delivery / b["path"]) for b in planted.bad_files}
    copies = {bad["duplicate"], str(planted.delivery / next(
        b["of"] for b in planted.bad_files if b["problem"] == "duplicate"))}
    states = pairs.loc[sorted(copies), "state"]
    assert sorted(states) == ["duplicate", "written"]  # one of the two identical files
    dropped = pairs.loc[states[states == "duplicate"].index[0]]
    assert dropped["reason"] == f"identical to {states[states == 'written'].index[0]}"
    no_id = pairs.loc[bad["missing_patient_id"]]
    assert no_id["state"] == "quarantined" and "no PatientID" in no_id["reason"]
    assert pd.isna(no_id["output"])


def test_unreadable_files_are_listed_and_the_tables_go_on(curated: Curated, tmp_path: Path):
    pet = curated.series("PT", "PET").copy()
    gone = str(tmp_path / "moved-away.dcm")
    pet.loc[pet.index[0], "output"] = gone
    values = distinct_values([gone, pet["source"].iloc[1]], progress=False)
    lost = values[values["attribute"] == "(file not read)"]
    assert len(lost) == 1 and "moved-away.dcm" in lost["value"].iloc[0]
    assert "PatientName" in set(values["attribute"])
    summary = change_summary(pet, curated.profile, progress=False)
    assert [u["output"] for u in summary.attrs["unreadable"]] == [gone]
    assert summary[summary["attribute"] == "PatientName"]["files"].iloc[0] == len(pet) - 1
    check = pet_check(pet)
    assert check["weight_kg"].iloc[0] == "not read" and "cannot read" in check["problem"].iloc[0]

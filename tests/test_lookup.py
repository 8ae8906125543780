"""The lookup template, and the trial's subject ID pattern."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from workbench.catalog import scan
from workbench.cli import main
from workbench.deid.pseudonyms import Lookup
from workbench.deid.run import deidentify_delivery
from workbench.errors import ProfileError, WorkbenchError
from workbench.examples import generate
from workbench.lookup import template
from workbench.profile import load_profile
from workbench.store import Store

SECRET = b"lookup-test-secret-0123456789abcdef"
INFO = ["info_patient_name", "info_study_dates", "info_accessions", "info_modalities"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    planted = generate(tmp_path_factory.mktemp("lookup"), patients=2, seed=1, ct_slices=4,
                       ct_size=64)
    return planted, scan(planted.delivery)[0]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("profile, columns", [
    ("uk-pet-core-lab", ["PatientID", "subject_id", "site_id", *INFO]),
    ("eucanimage-pet", ["PatientID", "subject_id", "site_id", *INFO]),
    ("eucanimage-strict", ["PatientID", "subject_id", "site_id", *INFO]),
    ("rt-trial", ["PatientID", "site_id", *INFO]),
    ("ltp2-jpl", ["AccessionNumber", "image_event_id", "site_id", "info_patient_id",
                  "info_patient_name", "info_study_dates", "info_modalities"]),
])
def test_the_template_has_the_columns_the_profile_needs(example, profile, columns):
    planted, instances = example
    table = template(instances, load_profile(profile))
    assert list(table.columns) == columns
    selected = load_profile(profile).select.get("modality")
    if columns[0] == "PatientID":
        assert sorted(table["PatientID"]) == sorted({i.patient_id for i in instances})
        names = {i.patient_id: i.patient_name for i in instances}
        assert [names[p] for p in table["PatientID"]] == list(table["info_patient_name"])
    else:  # one row per imaging event of the series the profile selects (CT, PT)
        events = {i.accession: i.patient_id for i in instances if i.modality in selected}
        assert dict(zip(table["AccessionNumber"], table["info_patient_id"])) == events
    for column in columns[1:]:
        if not column.startswith("info_"):
            assert set(table[column]) == {""}, f"{column} is for the site to fill in"
    assert all(table["info_study_dates"].str.fullmatch(r"\d{8}(; \d{8})*"))


def test_a_profile_that_needs_no_lookup_says_so(example):
    with pytest.raises(WorkbenchError, match="needs no lookup table"):
        template(example[1], load_profile("ps315-basic"))


def test_the_cli_writes_it_for_the_owner_only_and_never_over_a_table(example, tmp_path, capsys):
    planted, _ = example
    out = tmp_path / "fill-me.csv"
    assert main(["lookup-template", str(planted.delivery), "--profile", "uk-pet-core-lab",
                 "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = _rows(out)
    assert len(rows) == 2 and all(r["subject_id"] == "" for r in rows)
    assert "Núñez^Jürgen" in out.read_text(encoding="utf-8")
    assert "identifies patients" in capsys.readouterr().err
    out.write_text("PatientID,subject_id\nP1,S-1\n")
    assert main(["lookup-template", str(planted.delivery), "--profile", "uk-pet-core-lab",
                 "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "PatientID,subject_id\nP1,S-1\n"


def _fill(path: Path, ids: dict[str, str], column: str = "subject_id") -> None:
    """Fill the template in as a site would, in a spreadsheet saved as CSV."""
    rows = _rows(path)
    for r in rows:
        r[column], r["site_id"] = ids[r["PatientID"]], "SITE01"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_filled_in_template_is_a_lookup_table_and_its_info_columns_are_ignored(
        example, tmp_path):
    planted, instances = example
    profile = load_profile("uk-pet-core-lab")
    path = tmp_path / "lookup.csv"
    assert main(["lookup-template", str(planted.delivery), "--profile", profile.name,
                 "-o", str(path)]) == 0
    pids = sorted({i.patient_id for i in instances})
    ids = {pids[0]: "ANIM-0001", pids[1]: "ANIM-0002"}
    _fill(path, ids)
    table = Lookup.for_profile(path, profile)
    assert {k: r["subject_id"] for k, r in table.rows.items()} == ids
    assert all(not c.startswith("info_") for r in table.rows.values() for c in r)
    assert set(next(iter(table.rows.values()))) == {"PatientID", "subject_id", "site_id"}

    report = deidentify_delivery(planted.delivery, tmp_path / "out", profile.name,
                                 store=Store(tmp_path / "s.sqlite"), secret=SECRET,
                                 lookup=str(path), progress=False)
    # the example plants burned-in annotations, held for a look at the pixels; nothing else
    assert {o.kind for o in report.quarantined} <= {"needs pixel review"}
    assert {s["subject_id"] for s in report.studies} == set(ids.values())
    released = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    for name in ("Thornbury", "Jürgen"):
        assert name.encode("latin-1") not in released and name.encode() not in released


# --- the trial's pattern -------------------------------------------------------------

def _profile(tmp_path: Path, pattern: str, base: str = "uk-pet-core-lab") -> Path:
    path = tmp_path / "pattern-trial.yaml"
    path.write_text(f"name: pattern-trial\nbase: {base}\n"
                    f"subject_id: {{from: lookup, key: PatientID, column: subject_id, "
                    f"pattern: '{pattern}'}}\n")
    return path


@pytest.mark.parametrize("pattern", ["^ANIM-[0-9{4}$", "(unclosed", "*"])
def test_a_bad_pattern_is_refused_naming_the_file_and_key(tmp_path, pattern):
    path = _profile(tmp_path, pattern)
    with pytest.raises(ProfileError, match=r"pattern-trial\.yaml: subject_id\.pattern .* not a "
                                           "valid regular expression"):
        load_profile(path)


def test_a_pattern_that_is_no_text_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nbase: uk-pet-core-lab\nsubject_id: {from: hash, pattern: 12}\n")
    with pytest.raises(ProfileError, match=r"p\.yaml: subject_id\.pattern must be"):
        load_profile(path)


def test_an_id_breaking_the_pattern_quarantines_that_patient_and_the_rest_is_released(
        example, tmp_path):
    planted, instances = example
    profile = _profile(tmp_path, "^ANIM-[0-9]{4}$")
    pids = sorted({i.patient_id for i in instances})
    lookup = tmp_path / "lookup.csv"
    lookup.write_text(f"PatientID,subject_id,site_id\n{pids[0]},ANIM-0001,SITE01\n"
                      f"{pids[1]},ANIM-12,SITE01\n")
    store = Store(tmp_path / "s.sqlite")
    report = deidentify_delivery(planted.delivery, tmp_path / "out", str(profile), store=store,
                                 secret=SECRET, lookup=str(lookup), progress=False)
    assert report.exit_code == 2
    held = [o for o in report.quarantined if o.kind != "needs pixel review"]
    assert held and {o.study_uid for o in held} == {
        i.study_uid for i in instances if i.patient_id == pids[1]
        and i.modality in ("CT", "PT")}
    reason = held[0].reason
    for part in (f"PatientID {pids[1]!r}", "'ANIM-12'", "'^ANIM-[0-9]{4}$'",
                 f"lookup table {lookup} row 3"):
        assert part in reason, reason
    written = [o for o in report.outcomes if o.state == "written"]
    assert written and {o.study_uid for o in written}.isdisjoint({o.study_uid for o in held})
    assert store.pseudonyms("ANIMATE", "PatientID") == {pids[0]: "ANIM-0001"}
    assert (tmp_path / "out" / "ANIM-0001").is_dir()
    assert not list((tmp_path / "out").glob("ANIM-12*"))


def test_an_event_id_breaking_the_pattern_names_the_accession_and_patient(tmp_path):
    from workbench.deid.pseudonyms import assign

    path = tmp_path / "ltp2.yaml"
    path.write_text("name: ltp2\nbase: ltp2-jpl\nsubject_id: {from: lookup, key: AccessionNumber,"
                    " column: image_event_id, pattern: '^EV[0-9]{6}$'}\n")
    lookup = tmp_path / "events.csv"
    lookup.write_text("AccessionNumber,image_event_id,info_patient_name\nA1,EV000001,X^Y\n"
                      "A2,EV-2,Z^W\n")
    profile = load_profile(path)
    found, missing = assign(profile, Store(tmp_path / "s.sqlite"), SECRET,
                            {"A1": ("P1", "X^Y"), "A2": ("P2", "Z^W")},
                            Lookup.for_profile(lookup, profile), {})
    assert found == {"A1": "EV000001"}
    assert missing["A2"].startswith("AccessionNumber 'A2' (PatientID 'P2'): subject ID 'EV-2'")
    assert f"lookup table {lookup} row 3" in missing["A2"]

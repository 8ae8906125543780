"""``deid --resume`` refuses an output folder made with another secret, profile, site or
lookup row, in one line; the same settings resume as before. Blank lookup keys are warned."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.deid.pseudonyms import Lookup
from workbench.examples import Planted, generate
from workbench.profile import find_profile

LOOKUP_PROFILE = "uk-pet-core-lab"  # pseudonyms from subjects.csv (PatientID -> subject_id)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Two patients, 3 x 64 x 64 CT; read only."""
    return generate(tmp_path_factory.mktemp("resume-guard"), patients=2, seed=4, ct_slices=3,
                    ct_size=64)


@pytest.fixture
def lookup(small: Planted, tmp_path: Path) -> Path:
    """A copy of the subjects lookup table the test may change."""
    return Path(shutil.copy(small.subjects_csv, tmp_path / "subjects.csv"))


def _deid(capsys, small: Planted, tmp_path: Path, *extra: str,
          profile: str = "ps315-basic") -> tuple[int, str, str]:
    code = main(["deid", str(small.delivery), str(tmp_path / "out"), "--profile", profile,
                 "--store", str(tmp_path / "state.sqlite"), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(capsys, small, tmp_path, *extra, profile="ps315-basic") -> str:
    """Resume with ``extra``; assert it is refused in one line and OUT is untouched."""
    out = tmp_path / "out"
    before = _snapshot(out)
    code, _, err = _deid(capsys, small, tmp_path, "--resume", *extra, profile=profile)
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: output folder {out} was made with")
    assert "or write to a new output folder" in lines[0]
    assert _snapshot(out) == before
    return lines[0]


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_different_secret_is_refused(small, tmp_path, capsys):
    assert _deid(capsys, small, tmp_path)[0] in (0, 2)
    other = tmp_path / "other.secret"
    other.write_text("another-trial-secret-0123456789abcdef")
    line = _refused(capsys, small, tmp_path, "--trial-secret-file", str(other))
    assert "the trial secret differs" in line
    assert "another-trial-secret" not in line


def test_a_different_profile_is_refused_naming_both_hashes(small, tmp_path, capsys):
    assert _deid(capsys, small, tmp_path)[0] in (0, 2)
    edited = tmp_path / "ps315-basic.yaml"
    text = find_profile("ps315-basic").read_text()
    edited.write_text(text.replace("title: ", "title: Edited at the site - ", 1))
    line = _refused(capsys, small, tmp_path, profile=str(edited))
    assert "the profile differs (ps315-basic " in line and " → ps315-basic " in line


def test_a_different_site_is_refused(small, tmp_path, capsys):
    assert _deid(capsys, small, tmp_path, "--site", "SITE01")[0] in (0, 2)
    line = _refused(capsys, small, tmp_path, "--site", "SITE02")
    assert "the site differs ('SITE01' → 'SITE02')" in line


def test_a_changed_lookup_row_an_output_used_is_refused(small, tmp_path, capsys, lookup):
    assert _deid(capsys, small, tmp_path, "--lookup", str(lookup),
                 profile=LOOKUP_PROFILE)[0] in (0, 2)
    rows = list(csv.DictReader(lookup.open()))
    rows[0]["subject_id"] = "SITE01-0099"
    _write_rows(lookup, rows)
    line = _refused(capsys, small, tmp_path, "--lookup", str(lookup), profile=LOOKUP_PROFILE)
    assert f"the lookup row for PatientID {rows[0]['PatientID']!r} changed (subject_id)" in line


def test_a_new_lookup_row_for_a_new_patient_is_accepted(small, tmp_path, capsys, lookup):
    assert _deid(capsys, small, tmp_path, "--lookup", str(lookup),
                 profile=LOOKUP_PROFILE)[0] in (0, 2)
    before = _snapshot(tmp_path / "out")
    rows = list(csv.DictReader(lookup.open()))
    _write_rows(lookup, rows + [{**rows[0], "PatientID": "NEW-PATIENT-1",
                                 "subject_id": "SITE01-0777"}])
    code, out, err = _deid(capsys, small, tmp_path, "--resume", "--lookup", str(lookup),
                           profile=LOOKUP_PROFILE)
    assert code in (0, 2) and "error" not in err and "Traceback" not in err
    assert _snapshot(tmp_path / "out") == before


def test_the_same_settings_resume_as_before_without_duplicates(small, tmp_path, capsys, lookup):
    first, _, _ = _deid(capsys, small, tmp_path, "--site", "SITE01", "--lookup", str(lookup),
                        profile=LOOKUP_PROFILE)
    before = _snapshot(tmp_path / "out")
    assert first in (0, 2) and before
    code, out, err = _deid(capsys, small, tmp_path, "--resume", "--site", "SITE01",
                           "--lookup", str(lookup), profile=LOOKUP_PROFILE)
    assert code == first and "error" not in err
    assert _snapshot(tmp_path / "out") == before
    assert f"{len(before)} file(s) de-identified and verified" in out


def test_an_output_made_before_the_record_resumes_and_is_then_guarded(small, tmp_path, capsys):
    import sqlite3

    assert _deid(capsys, small, tmp_path, "--site", "SITE01")[0] in (0, 2)
    db = sqlite3.connect(tmp_path / "state.sqlite")
    with db:  # as a store written before outputs were recorded
        db.execute("DELETE FROM output_settings")
        db.execute("DELETE FROM output_lookup_rows")
    db.close()
    code, _, err = _deid(capsys, small, tmp_path, "--resume", "--site", "SITE02")
    assert code in (0, 2) and "error" not in err
    assert "'SITE02' → 'SITE03'" in _refused(capsys, small, tmp_path, "--site", "SITE03")


def test_lookup_rows_without_a_key_are_warned_about(small, tmp_path, capsys, lookup):
    rows = list(csv.DictReader(lookup.open()))
    blank = {**rows[0], "PatientID": "", "subject_id": "SITE01-0555"}
    _write_rows(lookup, [rows[0], blank] + rows[1:] + [blank])
    table = Lookup.from_csv(lookup, "PatientID", "subject_id")
    assert table.blank_rows == (3, len(rows) + 3)
    code, _, err = _deid(capsys, small, tmp_path, "--lookup", str(lookup),
                         profile=LOOKUP_PROFILE)
    assert code in (0, 2) and "Traceback" not in err
    warned = [line for line in err.splitlines() if "no PatientID" in line]
    assert warned == [f"warning: lookup table {lookup} rows 3, {len(rows) + 3} have no "
                      "PatientID; they were ignored"]

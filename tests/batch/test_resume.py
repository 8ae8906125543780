"""Re-running a batch: done studies skipped, changed ones redone, old outputs superseded."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread

from workbench.batch import BatchError, run_batch
from workbench.examples import generate
from workbench.profile import load_profile
from workbench.store import Store

from .conftest import PROFILE, SECRET, outputs, settings_for


def run(settings, **kw):
    return run_batch(settings, secret=SECRET, progress=False, **kw)


def study_folders(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_dir()}


def test_second_run_skips_every_done_study_and_writes_nothing(delivery, tmp_path):
    settings = settings_for(delivery, tmp_path)
    first = run(settings)
    assert first.status == "finished"
    assert [r.action for r in first.rows] == ["new"] * 6
    assert {r.state for r in first.rows} == {"verified", "quarantined"}
    out = Path(settings.output)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    second = run(replace(settings, run_dir=str(tmp_path / "runs" / "second")))
    assert second.status == "finished"
    assert all(r.action == "skip: done in run first" for r in second.rows)
    assert [(r.study_ref, r.state, r.deidentified) for r in second.rows] == \
        [(r.study_ref, r.state, r.deidentified) for r in first.rows]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    trial = load_profile(PROFILE).trial_key
    assert len(Store(settings.store).verified_outputs(trial)) == len(before)
    manifest = json.loads((second.run_dir / "manifest.json").read_text())
    assert manifest["outputs"]["written_or_confirmed_now"] == 0
    assert "output" not in (second.run_dir / "checksums.csv").read_text()
    assert set(manifest["outputs"]["studies"]) == {r.study_ref for r in second.rows
                                                   if r.deidentified}


def test_a_changed_source_file_redoes_its_study_and_supersedes_the_old_output(own_delivery,
                                                                              tmp_path):
    settings = settings_for(own_delivery, tmp_path)
    first = run(settings)
    out = Path(settings.output)
    mr = next(s for p in own_delivery.patients for s in p["studies"] if "MR" in s["folder"])
    changed = own_delivery.delivery / mr["series"][0]["files"][0]
    ds = dcmread(changed)
    ds.SeriesDescription = "MR corrected at the site"
    ds.save_as(changed)

    second = run(replace(settings, run_dir=str(tmp_path / "runs" / "second")))
    redone = [r for r in second.rows if r.action.startswith("redo")]
    assert [r.action for r in redone] == ["redo: source files changed"]
    assert sum(r.action.startswith("skip") for r in second.rows) == 5
    old = next(r for r in first.rows if r.study_ref == redone[0].study_ref)
    superseded = out.parent / "out.superseded" / "second" / old.study
    assert sorted(p.name for p in superseded.rglob("*.dcm")) == \
        sorted(p.name for p in (out / redone[0].study).rglob("*.dcm"))
    # what the batch left equals a fresh run over the changed delivery
    fresh = settings_for(own_delivery, tmp_path / "fresh")
    run(fresh)
    assert outputs(out) == outputs(Path(fresh.output))
    rewritten = dcmread(next((out / redone[0].study).rglob("*.dcm")), stop_before_pixels=True)
    assert rewritten.SeriesDescription == "MR corrected at the site"


def test_a_changed_lookup_row_redoes_that_patients_studies(own_delivery, tmp_path):
    settings = settings_for(own_delivery, tmp_path, profile="uk-pet-core-lab")
    run(settings)
    table = own_delivery.subjects_csv
    rows = list(csv.DictReader(table.open()))
    renamed = rows[1]["subject_id"]
    rows[1]["subject_id"] = "SITE02-0099"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)

    second = run(replace(settings, run_dir=str(tmp_path / "runs" / "second")))
    redone = [r for r in second.rows if r.action.startswith("redo")]
    assert len(redone) == 2  # the patient's PET-CT, and the MR the profile does not select
    assert {r.subject_id for r in redone if r.state != "not selected"} == {"SITE02-0099"}
    assert all(r.action == "redo: lookup row or site changed" for r in redone)
    folders = study_folders(Path(settings.output))
    assert not any(f.startswith(renamed + "/") for f in folders)
    assert any(f.startswith("SITE02-0099/") for f in folders)


def test_a_deleted_output_folder_is_written_again(delivery, tmp_path):
    settings = settings_for(delivery, tmp_path)
    first = run(settings)
    out = Path(settings.output)
    expected = outputs(out)
    verified = next(r for r in first.rows if r.state == "verified")
    for path in sorted((out / verified.study).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (out / verified.study).rmdir()

    second = run(replace(settings, run_dir=str(tmp_path / "runs" / "second")))
    row = next(r for r in second.rows if r.study_ref == verified.study_ref)
    assert row.action == "redo: its output folder is missing"
    assert outputs(out) == expected


def test_an_output_folder_the_batch_did_not_write_is_refused(delivery, tmp_path):
    settings = settings_for(delivery, tmp_path)
    Path(settings.output).mkdir()
    (Path(settings.output) / "notes.txt").write_text("someone else's files")
    with pytest.raises(BatchError, match="no batch run wrote"):
        run(settings)


def test_bad_files_in_a_delivery_are_counted_and_the_batch_carries_on(tmp_path):
    planted = generate(tmp_path / "bad", patients=1, seed=3, ct_slices=3, ct_size=64,
                       bad_inputs=True)
    settings = settings_for(planted, tmp_path)
    result = run(settings)
    assert result.status == "finished"
    assert {r.state for r in result.rows} >= {"verified"}
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert set(manifest["inputs"]["other_files"]) == {"not-dicom", "dicomdir", "unreadable"}
    ct = next(r for r in result.rows if r.quarantined and "no PatientID" in r.reason)
    assert "conflict" in ct.reason
    record = "".join(p.read_text() for p in result.run_dir.iterdir())
    assert planted.delivery.name + "/" not in record  # no source paths


@pytest.mark.parametrize("change, message", [
    ({"destination": "dicom"}, "destination 'dicom' is not available yet"),
    ({"destination": "folder"}, "destination 'folder' is not available yet"),
    ({"destination": "ftp"}, "unknown destination 'ftp'"),
    ({"workers": 0}, "workers must be a whole number >= 1"),
    ({"dry_run": "no"}, "dry_run must be True or False"),
    ({"lookup": ""}, "set the lookup parameter"),
    ({"profile": "no-such-profile"}, "no profile named 'no-such-profile'"),
    ({"source": "/nonexistent/delivery"}, "is not a folder"),
    ({"destination": "xnat", "xnat_url": "http://u:pw@127.0.0.1:1"}, "holds a login"),
    ({"destination": "xnat"}, "needs an http\\(s\\) XNAT URL"),
])
def test_bad_parameters_stop_the_run_before_any_work(delivery, tmp_path, change, message):
    settings = replace(settings_for(delivery, tmp_path, profile="uk-pet-core-lab"), **change)
    with pytest.raises(BatchError, match=message):
        run(settings)
    assert not Path(settings.output).exists()

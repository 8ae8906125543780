"""Bad input gets a clear error and loses nothing; the batch carries on."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil

import pytest
from pydicom import dcmread

from workbench.catalog import Instance, Skipped, files_under, read_header
from workbench.cli import main
from workbench.deid import run as run_module
from workbench.deid.run import deidentify_delivery
from workbench.errors import StoreError, WorkbenchError
from workbench.store import Store


def deid(args: list[str]) -> int:
    return main(["deid", *args])


def test_bad_files_are_skipped_or_quarantined_and_the_rest_goes_on(bad_delivery, tmp_path, capsys):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in bad_delivery.delivery.rglob("*") if p.is_file()}
    code = deid([str(bad_delivery.delivery), str(tmp_path / "out"), "--profile", "ps315-basic",
                 "--store", str(tmp_path / "s.sqlite")])
    out = capsys.readouterr().out
    assert code == 2
    problems = {b["problem"]: b["path"] for b in bad_delivery.bad_files}
    assert "not a DICOM file" in out and problems["not_dicom"] in out
    assert "DICOMDIR" in out
    assert "truncated" in out
    assert "no PatientID" in out
    assert "duplicate skipped" in out
    assert out.count("share one SOP Instance UID with different content") == 2
    reasons = [json.loads(line) for line in
               (tmp_path / "out.quarantine" / "reasons.jsonl").read_text().splitlines()]
    assert all(r["reason"] for r in reasons)
    written = list((tmp_path / "out").rglob("*.dcm"))
    assert len(written) > 100  # everything else went through
    assert not list((tmp_path / "out").rglob("*.partial"))
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in bad_delivery.delivery.rglob("*") if p.is_file()}
    assert after == before  # sources untouched


def test_an_object_cut_short_inside_its_header_is_quarantined_not_released(example_delivery,
                                                                          tmp_path):
    """A structure set has no pixel data whose size gives its truncation away; a copy that
    ends inside an element was once de-identified and released with what was left."""
    records = [read_header(p) for p in files_under(example_delivery.delivery)]
    rtstruct = next(r for r in records if isinstance(r, Instance) and r.modality == "RTSTRUCT")
    ct = next(r for r in records if isinstance(r, Instance) and r.modality == "CT")
    src = tmp_path / "src"
    src.mkdir()
    data = open(rtstruct.path, "rb").read()
    (src / "rtstruct.dcm").write_bytes(data[:len(data) * 3 // 5])
    shutil.copy(ct.path, src / "ct.dcm")
    found = read_header(str(src / "rtstruct.dcm"))
    assert isinstance(found, Skipped) and found.kind == "unreadable"
    assert "truncated" in found.reason and "copy the file again" in found.reason
    report = deidentify_delivery(src, tmp_path / "out", "rt-trial", site="SITE01", progress=False,
                                 store=Store(tmp_path / "s.sqlite"))
    [held] = report.quarantined
    assert held.source == str(src / "rtstruct.dcm") and "truncated" in held.reason
    assert [o.state for o in report.outcomes if o.source == str(src / "ct.dcm")] == ["written"]
    assert [dcmread(p).Modality for p in (tmp_path / "out").rglob("*.dcm")] == ["CT"]


def test_output_with_content_is_refused_unless_resume(bad_delivery, tmp_path, capsys):
    args = [str(bad_delivery.delivery), str(tmp_path / "out"), "--profile", "uk-pet-core-lab",
            "--lookup", str(bad_delivery.subjects_csv), "--store", str(tmp_path / "s.sqlite")]
    assert deid(args) == 2
    first = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm")}
    capsys.readouterr()
    assert deid(args) == 1
    assert "already holds files" in capsys.readouterr().err
    victim = sorted(first)[0]
    victim.unlink()  # as if the first run had been killed before this file
    reasons = (tmp_path / "out.quarantine" / "reasons.jsonl").read_text().splitlines()
    assert deid([*args, "--resume"]) == 2
    out = capsys.readouterr().out
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm")} == first
    assert " 1 file(s) written" not in out and "unchanged" in out
    again = (tmp_path / "out.quarantine" / "reasons.jsonl").read_text().splitlines()
    assert again == reasons, "a resumed run listed the same quarantined files again"


def test_resume_never_overwrites_a_different_file(bad_delivery, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    kw = dict(store=store, lookup=str(bad_delivery.subjects_csv), progress=False)
    deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "uk-pet-core-lab", **kw)
    victim = sorted((tmp_path / "out").rglob("*.dcm"))[0]
    victim.write_bytes(b"something else")
    report = deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "uk-pet-core-lab",
                                 resume=True, **kw)
    assert victim.read_bytes() == b"something else"
    assert any("already holds a different file" in (o.reason or "") for o in report.quarantined)


def test_missing_lookup_entry_quarantines_that_study_only(bad_delivery, tmp_path):
    lines = bad_delivery.subjects_csv.read_text().splitlines()
    partial = tmp_path / "lookup.csv"
    partial.write_text("\n".join(lines[:2]) + "\n")  # header and the first patient only
    report = deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "uk-pet-core-lab",
                                 store=Store(tmp_path / "s.sqlite"), lookup=str(partial),
                                 progress=False)
    missing = [o for o in report.quarantined if "no lookup entry" in (o.reason or "")]
    assert missing and all(o.output is None for o in missing)
    subjects = {p.name for p in (tmp_path / "out").iterdir()}
    assert subjects == {lines[1].split(",")[1]}


def test_disk_full_leaves_no_half_written_file(bad_delivery, tmp_path, monkeypatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_module.os, "replace", full)
    with pytest.raises(WorkbenchError, match="No space left on device.*--resume"):
        deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "ps315-basic",
                            store=Store(tmp_path / "s.sqlite"), progress=False)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_store_and_quarantine_must_stay_outside_the_output(bad_delivery, tmp_path):
    with pytest.raises(StoreError, match="outside any output"):
        deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "ps315-basic",
                            store=Store(tmp_path / "out" / "s.sqlite"), progress=False)
    with pytest.raises(WorkbenchError, match="quarantine"):
        deidentify_delivery(bad_delivery.delivery, tmp_path / "out2", "ps315-basic",
                            store=Store(tmp_path / "s.sqlite"),
                            quarantine=tmp_path / "out2" / "q", progress=False)


def test_overlapping_source_and_output_refused(bad_delivery, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(bad_delivery.delivery, src)
    with pytest.raises(WorkbenchError, match="overlap"):
        deidentify_delivery(src, src / "out", "ps315-basic", store=Store(tmp_path / "s.sqlite"),
                            progress=False)


def test_missing_lookup_file_and_bad_profile_exit_1(bad_delivery, tmp_path, capsys):
    assert deid([str(bad_delivery.delivery), str(tmp_path / "o"), "--profile", "uk-pet-core-lab",
                 "--store", str(tmp_path / "s.sqlite")]) == 1
    assert "--lookup" in capsys.readouterr().err
    assert deid([str(bad_delivery.delivery), str(tmp_path / "o"), "--profile", "nope",
                 "--store", str(tmp_path / "s.sqlite")]) == 1
    assert "no profile named 'nope'" in capsys.readouterr().err


def test_verify_catches_a_tampered_output(bad_delivery, tmp_path, capsys):
    args = [str(bad_delivery.delivery), str(tmp_path / "out"), "--profile", "uk-pet-core-lab",
            "--store", str(tmp_path / "s.sqlite")]
    assert deid([*args, "--lookup", str(bad_delivery.subjects_csv)]) == 2
    assert main(["verify", *args]) == 0
    victim = sorted((tmp_path / "out").rglob("*.dcm"))[0]
    ds = dcmread(victim)
    ds.ImageComments = f"seen by {bad_delivery.patients[0]['name'].split('^')[0]}"
    ds.save_as(victim)
    capsys.readouterr()
    assert main(["verify", *args]) == 2
    out = capsys.readouterr().out
    assert "FAILED" in out and "PatientName component" in out and "ImageComments" in out


def test_verify_catches_an_output_cut_short(bad_delivery, tmp_path, capsys):
    """A copy of the output that lost its last bytes (a full disk, an interrupted transfer)."""
    args = [str(bad_delivery.delivery), str(tmp_path / "out"), "--profile", "ps315-basic",
            "--store", str(tmp_path / "s.sqlite")]
    assert deid(args) == 2
    victim = sorted((tmp_path / "out").rglob("*.dcm"))[0]
    victim.write_bytes(victim.read_bytes()[:-100])
    capsys.readouterr()
    assert main(["verify", *args]) == 2
    out = capsys.readouterr().out
    assert f"FAILED {victim}: file truncated: the pixel data lacks 100 bytes" in out
    assert "1 failed" in out and "missing from the output" in out  # no readable output left


def test_series_the_profile_does_not_select_are_skipped_and_listed(bad_delivery, tmp_path, capsys):
    """uk-pet-core-lab keeps CT and PT: the rest is listed as skipped, not quarantined."""
    args = [str(bad_delivery.delivery), str(tmp_path / "out"), "--profile", "uk-pet-core-lab",
            "--lookup", str(bad_delivery.subjects_csv), "--store", str(tmp_path / "s.sqlite")]
    deid(args)
    out = capsys.readouterr().out
    assert "skipped series" in out and "modality MR not selected" in out
    written = {dcmread(p, stop_before_pixels=True).Modality
               for p in (tmp_path / "out").rglob("*.dcm")}
    assert written == {"CT", "PT"}
    reasons = (tmp_path / "out.quarantine" / "reasons.jsonl").read_text()
    assert "not selected" not in reasons


def test_permission_denied_is_a_clear_error_and_leaves_no_half_written_file(bad_delivery,
                                                                          tmp_path, monkeypatch):
    real_open = open

    def refused(path, mode="r", *a, **kw):
        if "w" in mode and str(path).endswith(".partial"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", refused)
    with pytest.raises(WorkbenchError, match="Permission denied.*permissions.*--resume"):
        deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "ps315-basic",
                            store=Store(tmp_path / "s.sqlite"), progress=False)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]

"""A batch pushes each verified study to XNAT once: never twice, never changed, never unverified."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread

# The sandbox XNAT fixture (tests/sandbox/conftest.py), shared with these tests.
from support import OWNER, SandboxHandle
from workbench import cli
from workbench.batch import BatchError, run_batch

from .conftest import SECRET, outputs, settings_for

PROFILE = "ps315-basic"  # MR studies verify clean; each PET-CT holds a screen capture back


@pytest.fixture
def xnat(sandbox_xnat: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> SandboxHandle:
    """The sandbox (project P1 owned by alice); alice's login in the environment only."""
    monkeypatch.setenv("XNAT_USER", OWNER[0])
    monkeypatch.setenv("XNAT_PASSWORD", OWNER[1])
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return sandbox_xnat


def imports(server: SandboxHandle) -> int:
    return sum(1 for method, path, _ in server.server.requests
               if method == "POST" and path == "/data/services/import")


def push_settings(delivery, root: Path, server: SandboxHandle, **changes):
    options = {"destination": "xnat", "dry_run": False, "approve": True,
               "xnat_url": server.url, "xnat_project": "P1", **changes}
    return settings_for(delivery, root, profile=PROFILE, **options)


def test_workbench_batch_pushes_each_verified_study_once(delivery, xnat, tmp_path):
    args = ["batch", str(delivery.delivery), str(tmp_path / "out"), "--profile", PROFILE,
            "--store", str(tmp_path / "state.sqlite"), "--runs", str(tmp_path / "runs"),
            "-p", "lookup", str(delivery.subjects_csv), "-p", "destination", "xnat",
            "-p", "dry_run", "false", "-p", "xnat_url", xnat.url, "-p", "xnat_project", "P1",
            "-p", "workers", "2", "-p", "approve", "true"]
    assert cli.main(args) == 2  # finished; the PET-CT studies hold a file for review
    [first] = list((tmp_path / "runs").glob("*/*"))
    with open(first / "studies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    verified = [r for r in rows if r["state"] == "verified"]
    assert verified and all(r["pushed"] == "pushed" and r["session"] == f"P1/{r['subject_id']}"
                            for r in verified)
    assert all(r["pushed"] == "" for r in rows if r["state"] != "verified")
    assert imports(xnat) == len(verified)
    for path in first.iterdir():  # the login never lands in the record
        assert OWNER[1] not in path.read_text(encoding="utf-8")

    assert cli.main(args) == 2
    [second] = [p for p in (tmp_path / "runs").glob("*/*") if p != first]
    with open(second / "studies.csv", newline="") as f:
        again = {r["study_ref"]: r for r in csv.DictReader(f)}
    assert {again[r["study_ref"]]["pushed"] for r in verified} == {"pushed earlier"}
    assert imports(xnat) == len(verified)  # nothing pushed twice


def test_a_dry_run_lists_what_it_would_push_and_sends_nothing(delivery, xnat, tmp_path):
    settings = push_settings(delivery, tmp_path, xnat, dry_run=True)
    result = run_batch(settings, secret=SECRET, progress=False)
    assert {r.pushed for r in result.rows if r.state == "verified"} == {"would push (dry run)"}
    assert not xnat.server.requests


def test_a_study_changed_after_its_push_is_held_and_not_pushed_again(own_delivery, xnat,
                                                                     tmp_path):
    settings = push_settings(own_delivery, tmp_path, xnat)
    first = run_batch(settings, secret=SECRET, progress=False)
    pushed = imports(xnat)
    mr = next(s for s in own_delivery.patients[0]["studies"] if "MR" in s["folder"])
    source = own_delivery.delivery / mr["series"][0]["files"][0]
    ds = dcmread(source)
    ds.SeriesDescription = "MR re-sent by the site"
    ds.save_as(source)
    before = outputs(Path(settings.output))

    second = run_batch(replace(settings, run_dir=str(tmp_path / "runs" / "second")),
                       secret=SECRET, progress=False)
    [held] = [r for r in second.rows if r.state == "changed after push"]
    was = next(r for r in first.rows if r.study_ref == held.study_ref)
    assert was.pushed == "pushed"
    assert held.action.startswith("hold: source files changed after the push to P1/")
    assert held.pushed == "pushed earlier"
    assert second.exit_code == 2
    assert imports(xnat) == pushed
    assert outputs(Path(settings.output)) == before
    assert not (tmp_path / "out.superseded").exists()


def test_an_unverified_file_in_a_study_folder_stops_the_push(delivery, xnat, tmp_path):
    settings = push_settings(delivery, tmp_path, xnat, dry_run=True)
    first = run_batch(settings, secret=SECRET, progress=False)
    study = next(r.study for r in first.rows if r.state == "verified")
    (Path(settings.output) / study / "notes.txt").write_text("added by hand")
    with pytest.raises(BatchError, match=r"nothing pushed: 1 study folder\(s\) hold files that "
                                         r"were not verified"):
        run_batch(replace(settings, dry_run=False, run_dir=str(tmp_path / "runs" / "second")),
                  secret=SECRET, progress=False)
    assert imports(xnat) == 0


def test_a_batch_pushes_nothing_a_person_has_not_approved(delivery, xnat, tmp_path, capsys):
    out, store = tmp_path / "out", tmp_path / "state.sqlite"
    args = ["batch", str(delivery.delivery), str(out), "--profile", PROFILE,
            "--store", str(store), "--runs", str(tmp_path / "runs"),
            "-p", "lookup", str(delivery.subjects_csv), "-p", "destination", "xnat",
            "-p", "dry_run", "false", "-p", "xnat_url", xnat.url, "-p", "xnat_project", "P1"]
    assert cli.main(args) == 2  # finished, and holds studies for a person
    [first] = list((tmp_path / "runs").glob("*/*"))
    with open(first / "studies.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["state"] == "verified"]
    assert rows and {r["pushed"] for r in rows} == {"waiting for approval"}
    assert all("workbench approve" in r["reason"] for r in rows)
    assert imports(xnat) == 0
    approved = rows[0]["study"]
    assert cli.main(["approve", str(out), approved, "--by", "Dr Reviewer", "--store",
                     str(store)]) == 0
    capsys.readouterr()
    cli.main(args)
    latest = sorted((tmp_path / "runs").glob("*/*"))[-1]
    with open(latest / "studies.csv", newline="") as f:
        pushed = {r["study"]: r["pushed"] for r in csv.DictReader(f) if r["state"] == "verified"}
    assert pushed[approved] == "pushed"
    assert {v for k, v in pushed.items() if k != approved} == {"waiting for approval"}
    assert imports(xnat) == 1

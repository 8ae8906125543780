"""``workbench batch``: the notebook under papermill for every shipped profile, and under nbval.

The run folder holds the executed notebook, its HTML copy, the CSV summaries and the
manifest, and none of the identities planted in the example data (names even in
folder names, IDs, accession numbers, addresses, phone numbers).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench import cli
from workbench.batch.notebook import default_notebook
from workbench.examples import generate
from workbench.profile import list_profiles, load_profile

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "20_batch_trial.ipynb"
PROFILES = ["ps315-basic", "ltp2-jpl", "eucanimage-strict", "eucanimage-pet", "uk-pet-core-lab",
            "rt-trial"]
IDENTIFYING = {"name", "id", "accession", "address", "phone"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two patients, 64 x 64 CT in four slices; read only."""
    return generate(tmp_path_factory.mktemp("batch-nb"), patients=2, seed=4, ct_slices=4,
                    ct_size=64)


def batch(planted, root: Path, profile: str, *params: str) -> tuple[int, Path]:
    """``workbench batch`` over ``planted`` into ``root``; the exit code and the run folder."""
    lookup = planted.events_csv if profile == "ltp2-jpl" else planted.subjects_csv
    runs = root / "runs"
    before = set(runs.glob("*/*"))
    code = cli.main(["batch", str(planted.delivery), str(root / "out"), "--profile", profile,
                     "--store", str(root / "state.sqlite"), "--runs", str(runs),
                     "-p", "lookup", str(lookup), "-p", "site", "SITE01", *params])
    [run_dir] = set(runs.glob("*/*")) - before
    return code, run_dir


def planted_values(planted) -> set[str]:
    return {i["value"] for i in planted.identifiers if i["kind"] in IDENTIFYING
            and len(i["value"]) >= 4}


def leaks(run_dir: Path, values: set[str]) -> list[str]:
    found = []
    for path in run_dir.iterdir():
        text = path.read_text(encoding="utf-8").upper()
        found += [f"{v!r} in {path.name}" for v in values if v.upper() in text]
    return found


def test_every_shipped_profile_is_tested():
    assert sorted(PROFILES) == sorted(name for name, _, _ in list_profiles())


@pytest.mark.parametrize("profile", PROFILES)
def test_workbench_batch_runs_the_notebook_for_each_profile(small, tmp_path, profile):
    code, run_dir = batch(small, tmp_path, profile, "-p", "workers", "1")
    assert run_dir.parent.name == load_profile(profile).trial_key.replace(" ", "_")
    assert re.fullmatch(r"\d{8}T\d{6}Z_[0-9a-f]{6}", run_dir.name)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "20_batch_trial.html", "20_batch_trial.ipynb", "checksums.csv", "manifest.json",
        "studies.csv", "totals.csv"]
    nb = nbformat.read(run_dir / "20_batch_trial.ipynb", as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert nb.metadata.papermill.parameters["profile"] == profile
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["profile"]["hash"] == load_profile(profile).hash
    assert {"workbench", "pydicom", "papermill", "python"} <= set(manifest["versions"])
    assert "git" in manifest and manifest["executor"]["kind"] == "in-process"
    with open(run_dir / "studies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    studies = sum(len(p["studies"]) for p in small.patients)
    assert len(rows) == len(manifest["inputs"]["studies"]) == studies
    held = any(r["state"] == "quarantined" for r in rows)
    assert code == (2 if held else 0)
    written = sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == sum(int(r["deidentified"]) for r in rows) > 0
    assert not leaks(run_dir, planted_values(small))


def test_a_failed_run_keeps_its_record_and_exits_non_zero(small, tmp_path, monkeypatch):
    monkeypatch.delenv("XNAT_USER", raising=False)
    monkeypatch.delenv("XNAT_PASSWORD", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    code, run_dir = batch(small, tmp_path, "ps315-basic", "-p", "destination", "xnat",
                          "-p", "dry_run", "false", "-p", "xnat_url", "http://127.0.0.1:9",
                          "-p", "xnat_project", "P1", "-p", "approve", "true")
    assert code == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "no XNAT credentials" in manifest["message"]
    nb = nbformat.read(run_dir / "20_batch_trial.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["PushError"]
    assert (run_dir / "20_batch_trial.html").exists()
    with open(run_dir / "studies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["state"] for r in rows} == {"verified", "quarantined"}  # de-identified, recorded

    code, second = batch(small, tmp_path, "ps315-basic")  # the next run: nothing left to do
    assert code == 2
    with open(second / "studies.csv", newline="") as f:
        assert {r["action"].split(":")[0] for r in csv.DictReader(f)} == {"skip"}


def test_a_parameter_the_notebook_refuses_stops_the_run_with_its_record(small, tmp_path,
                                                                         capsys):
    code, run_dir = batch(small, tmp_path, "uk-pet-core-lab", "-p", "destination", "dicom")
    assert code == 1
    assert "destination 'dicom' is not available yet" in capsys.readouterr().err
    assert (run_dir / "20_batch_trial.html").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("params, message", [
    (["-p", "dry_run", "perhaps"], "parameter dry_run takes true or false"),
    (["-p", "workers", "two"], "parameter workers takes a whole number"),
    (["-p", "password", "x"], "unknown parameter 'password'"),
    (["-p", "source", "/elsewhere"], "parameter source is set by the SRC argument"),
])
def test_bad_parameters_are_refused_before_any_run(small, tmp_path, capsys, params, message):
    code = cli.main(["batch", str(small.delivery), str(tmp_path / "out"), "--profile",
                     "uk-pet-core-lab", "--runs", str(tmp_path / "runs"), *params])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_notebook_passes_nbval_lax_with_its_defaults(tmp_path):
    """The defaults make a small example delivery in a temporary folder and run it."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    env = {**os.environ, "TQDM_DISABLE": "1", "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                          "-q", NOTEBOOK.name], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    cells = sum(c.cell_type == "code" for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert re.search(rf"\b{cells} passed\b", run.stdout), run.stdout[-2000:]
    [manifest] = list(tmp_path.glob("workbench-batch-*/runs/*/*/manifest.json"))
    assert json.loads(manifest.read_text())["status"] == "finished"


def test_a_cell_that_hangs_is_stopped_and_named(small, tmp_path, capsys):
    nb = nbformat.read(default_notebook(), as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("import time\n\ntime.sleep(600)  # waits forever"))
    hanging = tmp_path / "20_batch_trial.ipynb"
    nbformat.write(nb, hanging)
    runs = tmp_path / "runs"
    code = cli.main(["batch", str(small.delivery), str(tmp_path / "out"), "--profile",
                     "ps315-basic", "--store", str(tmp_path / "state.sqlite"), "--runs",
                     str(runs), "-p", "lookup", str(small.subjects_csv), "--notebook",
                     str(hanging), "--cell-timeout", "5"])
    assert code == 1
    err = capsys.readouterr().err
    # counted in the executed notebook, after the cell papermill adds with the parameters
    position = sum(c.cell_type == "code" for c in nb.cells[:5]) + 1
    assert f"code cell {position} of " in err and "executed notebook" in err and "'import time'" in err
    assert "ran longer than 5 s and was stopped" in err and "--cell-timeout" in err
    [run_dir] = list(runs.glob("*/*"))
    assert (run_dir / "20_batch_trial.html").exists()  # the record of how far it got

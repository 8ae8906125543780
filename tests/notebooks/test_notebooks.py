"""The notebooks: committed clean, run unattended under papermill and nbval, do their job."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.profile import load_profile
from workbench.store import Store

from .conftest import (
    ALL,
    CURATE,
    NOTEBOOKS,
    SPOT_CHECK,
    TourRun,
    execute,
    receipt_rows,
    snapshot,
    text_of,
)

TRIAL = load_profile("uk-pet-core-lab").trial_key


@pytest.mark.parametrize("name", ALL)
def test_committed_without_outputs_with_a_plain_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{name} holds outputs: strip them before committing"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    lines = tagged[0].source.splitlines()
    for statement, line in zip(ast.parse(tagged[0].source).body, lines, strict=True):
        assert isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant), \
            f"{name}: parameter line is not a plain literal: {line}"
        assert re.search(r"\s# \S", line), f"{name}: parameter without a comment: {line}"


def test_kernel_runs_this_interpreter(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, workbench; print(sys.executable); print(workbench.__file__)")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "which.ipynb")
    executable, package = text_of(execute(tmp_path / "which.ipynb", tmp_path / "run")).split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve() == (NOTEBOOKS.parent / "workbench" / "__init__.py").resolve()


def test_tour_deidentifies_verifies_and_pushes_every_study(tour_run: TourRun):
    planted = tour_run.planted
    assert len(planted.patients) == tour_run.patients
    shown = text_of(tour_run.nb)
    assert re.search(rf"\d+ output file\(s\) verified, 0 failed, {tour_run.patients} "
                     "quarantined at de-identification, 0 missing, 0 unexpected", shown)
    rows = receipt_rows(tour_run.out)
    assert sorted(r["pseudonym"] for r in rows) == sorted(p["subject_id"] for p in planted.patients)
    assert {r["status"] for r in rows} == {"uploaded"}
    assert {r["confirmed_by"] for r in rows} == {"md5"}
    reasons = (tour_run.out.parent / "out.quarantine" / "reasons.jsonl").read_text().splitlines()
    assert len(reasons) == tour_run.patients  # one screen capture with a burned-in name each
    assert all("needs pixel review" in json.loads(line)["reason"] for line in reasons)
    events = [e["event"] for e in Store(tour_run.store_path).audit_log(TRIAL)]
    assert events[:2] == ["secret-created", "deid-start"] and events[-1] == "push-end"


def test_curate_pushes_what_it_deidentified_and_leaves_the_source_alone(small_delivery,
                                                                         tmp_path):
    before = snapshot(small_delivery.delivery)
    work = tmp_path / "work"
    ran = execute(CURATE, tmp_path / "run", source=str(small_delivery.delivery),
                  lookup=str(small_delivery.subjects_csv), work_dir=str(work),
                  store_path=str(tmp_path / "state.sqlite"), reviewer="C. Urator",
                  push_now=True)
    record = "".join(o.get("data", {}).get("text/html", "") for c in ran.cells
                     for o in c.get("outputs", []))  # what a reader sees without a kernel
    assert "Selected series" in record and "pushed and confirmed" in record
    assert "C. Urator" in record
    assert snapshot(small_delivery.delivery) == before
    rows = receipt_rows(work / "out")
    assert sorted(r["pseudonym"] for r in rows) == \
        sorted(p["subject_id"] for p in small_delivery.patients)
    assert {r["status"] for r in rows} == {"uploaded"}
    pushed = sum(int(r["files"]) for r in rows)
    assert pushed == sum(1 for p in (work / "out").rglob("*") if p.is_file())


def _copy_store(tour_run: TourRun, tmp_path: Path) -> Path:
    copy = tmp_path / "state.sqlite"
    shutil.copyfile(tour_run.store_path, copy)
    return copy


def test_spot_check_signs_off_one_random_study_per_site(tour_run: TourRun, tmp_path):
    store_path = _copy_store(tour_run, tmp_path)
    execute(SPOT_CHECK, tmp_path / "run", out=str(tour_run.out), store_path=str(store_path),
            reviewer="J. Reviewer", verdict="rejected", note="text on slice 2", seed=7)
    store = Store(store_path)
    signed = [r for r in store.sign_offs(TRIAL, latest=True) if r["reviewer"] == "J. Reviewer"]
    sites = sorted(row["subject_id"].split("-")[0] for row in signed)
    assert sites == ["SITE01", "SITE02", "SITE03"]  # two studies per site, one drawn from each
    assert {(r["reviewer"], r["verdict"], r["note"]) for r in signed} == \
        {("J. Reviewer", "rejected", "text on slice 2")}
    audited = [e for e in store.audit_log(TRIAL) if e["event"] == "sign-off"
               and json.loads(e["detail"])["reviewer"] == "J. Reviewer"]
    assert len(audited) == 3


def test_spot_check_form_records_what_the_reviewer_enters(tour_run: TourRun, tmp_path):
    nb = nbformat.read(NOTEBOOKS / SPOT_CHECK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("""
import json
form.sign_button.click()  # no reviewer named yet
refused = form.signed.value
form.study.value = form.study.options[-1][1]
form.reviewer.value = "A. Reviewer"
form.verdict.value, form.note.value = "rejected", "name on the PET MIP"
form.sign_button.click()
print(json.dumps({"refused": refused, "recorded": form.signed.value,
                  "study": form.study.value}))
"""))
    nbformat.write(nb, tmp_path / SPOT_CHECK)
    store_path = _copy_store(tour_run, tmp_path)
    ran = execute(tmp_path / SPOT_CHECK, tmp_path / "run", out=str(tour_run.out),
                  store_path=str(store_path))
    shown = json.loads(ran.cells[-1].outputs[-1].text)
    assert "Not recorded" in shown["refused"] and "choose a verdict" in shown["refused"]
    assert "Recorded" in shown["recorded"] and "name on the PET MIP" in shown["recorded"]
    [row] = [r for r in Store(store_path).sign_offs(TRIAL) if r["reviewer"] == "A. Reviewer"]
    assert (row["reviewer"], row["verdict"], row["note"]) == \
        ("A. Reviewer", "rejected", "name on the PET MIP")
    assert Store(store_path).sign_offs(TRIAL, shown["study"])[-1] == row


def test_nbval_lax_passes_on_every_notebook(tmp_path):
    """``pytest --nbval-lax`` over the notebooks as committed, default parameters.

    The defaults write under ``~``; here ``HOME`` is a temporary folder.
    """
    folder, home = tmp_path / "notebooks", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    for name in ALL:
        shutil.copy(NOTEBOOKS / name, folder / name)
    cells = sum(c.cell_type == "code" for name in ALL
                for c in nbformat.read(folder / name, as_version=4).cells)
    env = {**os.environ, "HOME": str(home), "TQDM_DISABLE": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                          "-q", *ALL], cwd=folder, env=env, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(rf"\b{cells} passed\b", run.stdout), run.stdout[-2000:]
    # The defaults did the tour's work in the temporary home; the curation de-identified,
    # and pushed nothing, since nobody approved (its default never pushes unattended).
    assert {r["status"] for r in receipt_rows(home / "workbench-tour" / "out")} == {"uploaded"}
    assert any((home / "workbench-curate" / "out").rglob("*.dcm"))
    assert receipt_rows(home / "workbench-curate" / "out") == []

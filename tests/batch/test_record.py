"""The run record: inputs and outputs by hash, and no patient identity in it."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from workbench.batch import run_batch
from workbench.batch.record import REDACTED, scrub

from .conftest import SECRET, outputs, settings_for


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_record_lists_every_input_and_output_by_sha256(delivery, tmp_path):
    settings = settings_for(delivery, tmp_path)
    result = run_batch(settings, secret=SECRET, progress=False)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    checksums = result.run_dir / "checksums.csv"
    assert manifest["checksums"] == {"file": "checksums.csv",
                                     "sha256": sha256(checksums.read_bytes())}
    with open(checksums, newline="") as f:
        rows = list(csv.DictReader(f))
    sources = [p.read_bytes() for p in delivery.delivery.rglob("*") if p.is_file()]
    listed = [r["sha256"] for r in rows if r["role"] in ("source", "other source")]
    assert sorted(listed) == sorted(sha256(b) for b in sources)
    studies = manifest["inputs"]["studies"]
    for ref, study in studies.items():  # each study's digest is over its files' digests
        mine = sorted(r["sha256"] for r in rows if r["role"] == "source" and r["study_ref"] == ref)
        assert study == {"files": len(mine), "sources": sha256("\n".join(mine).encode())}
    assert sum(s["files"] for s in studies.values()) == manifest["inputs"]["instances"]
    assert manifest["inputs"]["lookup_sha256"] == sha256(delivery.subjects_csv.read_bytes())
    written = {rel: sha256(b) for rel, b in outputs(Path(settings.output)).items()}
    assert {r["name"]: r["sha256"] for r in rows if r["role"] == "output"} == written
    assert manifest["outputs"]["written_or_confirmed_now"] == len(written)
    assert manifest["outputs"]["digest"] == sha256(
        "".join(f"{k} {v}\n" for k, v in sorted(written.items())).encode())
    assert manifest["parameters"] == {**settings.__dict__, "source": str(delivery.delivery),
                                      "output": str(tmp_path / "out"),
                                      "lookup": str(delivery.subjects_csv),
                                      "run_dir": str(tmp_path / "runs" / "first")}
    assert manifest["status"] == "finished" and manifest["finished"] >= manifest["started"]


def test_scrub_removes_names_and_ids_but_leaves_counts(tmp_path):
    (tmp_path / "studies.csv").write_text("study,files,reason\nA,123,Whitfield_MARGARET_PID4471 "
                                          "failed\nB,4471,none\n")
    (tmp_path / "run.ipynb").write_text(json.dumps(
        {"cells": [{"outputs": [{"traceback": ["\x1b[31mOSError\x1b[0m: /d/WHITFIELD/x.dcm"]}]}]}))
    (tmp_path / "notes.bin").write_bytes(b"WHITFIELD")
    found = scrub(tmp_path, {"WHITFIELD", "Margaret", "PID4471", "4471", "MW"})
    assert found == 4
    with open(tmp_path / "studies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["reason"] == f"{REDACTED}_{REDACTED}_{REDACTED} failed"
    assert [r["files"] for r in rows] == ["123", "4471"]  # short numbers are the record's own
    notebook = json.loads((tmp_path / "run.ipynb").read_text())
    assert notebook["cells"][0]["outputs"][0]["traceback"] == \
        [f"\x1b[31mOSError\x1b[0m: /d/{REDACTED}/x.dcm"]
    assert (tmp_path / "notes.bin").read_bytes() == b"WHITFIELD"  # only the record's text files


def test_scrub_reads_json_strings_behind_escapes_and_leaves_clean_files_as_they_are(tmp_path):
    clean = json.dumps({"files": {"caf\u00e9/IMG1.dcm": "ab" * 32}, "count": 4471}, indent=1)
    (tmp_path / "manifest.json").write_text(clean)
    (tmp_path / "run.ipynb").write_text(json.dumps({"reason": "/d/M\u00fcller/x.dcm"}))
    assert "Müller" not in (tmp_path / "run.ipynb").read_text()  # written as M\u00fcller
    assert scrub(tmp_path, {"Müller", "PID4471"}) == 1
    assert json.loads((tmp_path / "run.ipynb").read_text()) == {"reason": f"/d/{REDACTED}/x.dcm"}
    assert (tmp_path / "manifest.json").read_text() == clean

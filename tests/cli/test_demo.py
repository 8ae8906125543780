"""``workbench demo``: the main job end to end against a sandbox XNAT it starts itself."""

from __future__ import annotations

import os
import re

from pydicom import dcmread

from workbench.cli import main


def test_demo_pushes_confirms_and_lists_every_verified_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.delenv("XNAT_USER", raising=False)
    monkeypatch.delenv("XNAT_PASSWORD", raising=False)
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--patients", "1"]) == 0
    printed = capsys.readouterr().out
    assert "XNAT_USER" not in os.environ, "the demo's sandbox login outlived the demo"
    outputs = [p for p in (folder / "out").rglob("*") if p.is_file()]
    held = re.search(r"the server holds (\d+) of (\d+) files", printed)
    assert held and int(held[1]) == int(held[2]) == len(outputs) > 0
    assert "0 failed, 1 quarantined at de-identification" in printed
    # What landed in the sandbox carries the pseudonym, never the patient's name.
    name = dcmread(next((folder / "example" / "delivery").rglob("*.dcm")),
                   stop_before_pixels=True).PatientName.family_name
    stored = b"".join(p.read_bytes() for p in (folder / "xnat").rglob("*.dcm"))
    assert stored and name.encode() not in stored
    assert "demo-password" not in printed

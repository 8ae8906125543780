"""Folders that overlap are refused, and what identifies patients is the owner's only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import stat
from pathlib import Path

import pytest

from workbench.cli import main


@pytest.fixture
def delivery(bad_delivery, tmp_path) -> Path:
    src = tmp_path / "site"
    shutil.copytree(bad_delivery.delivery, src)
    return src


def _deid(capsys, src, out, *extra) -> tuple[int, str]:
    code = main(["deid", str(src), str(out), "--profile", "ps315-basic", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("where", ["quarantine", "store"])
def test_a_quarantine_or_store_inside_the_source_is_refused(delivery, tmp_path, capsys, where):
    before = _snapshot(delivery)
    inside = delivery / "sub" / ("q" if where == "quarantine" else "state.sqlite")
    other = ["--store", str(tmp_path / "s.db")] if where == "quarantine" else []
    code, text = _deid(capsys, delivery, tmp_path / "out", f"--{where}", str(inside), *other)
    assert code == 1 and "inside the source" in text and "Traceback" not in text
    assert _snapshot(delivery) == before


@pytest.mark.parametrize("sibling", ["out.quarantine", "out.receipts", "out.superseded/x"])
def test_a_source_inside_the_outputs_own_folders_is_refused(delivery, tmp_path, capsys, sibling):
    src = tmp_path / sibling
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(delivery, src)
    code, text = _deid(capsys, src, tmp_path / "out", "--store", str(tmp_path / "s.db"))
    assert code == 1 and "own folders" in text
    assert not (tmp_path / "out").exists()


def test_a_source_beside_the_output_is_fine(delivery, tmp_path, capsys):
    code, _ = _deid(capsys, delivery, delivery.parent / "out", "--store", str(tmp_path / "s.db"))
    assert code == 2  # the bad files are quarantined; the rest is released


def test_store_quarantine_and_key_export_are_the_owners_only(delivery, tmp_path, capsys):
    store, quarantine = tmp_path / "state" / "s.db", tmp_path / "out.quarantine"
    code, text = _deid(capsys, delivery, tmp_path / "out", "--store", str(store))
    assert code == 2 and "readable by other users" not in text
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(store) == 0o600 and mode(store.parent) == 0o700
    assert mode(quarantine) == 0o700
    copies = [p for p in quarantine.rglob("*") if p.is_file()]
    assert copies and all(mode(p) == 0o600 for p in copies)
    keys = tmp_path / "keys.csv"
    keys.write_text("")
    keys.chmod(0o644)
    assert main(["keys", "export", "--store", str(store), "--output", str(keys)]) == 0
    assert mode(keys) == 0o600


def test_a_store_or_quarantine_open_to_others_is_reported_at_every_run(delivery, tmp_path,
                                                                       capsys):
    store = tmp_path / "s.db"
    _deid(capsys, delivery, tmp_path / "out", "--store", str(store))
    store.chmod(0o644)
    (tmp_path / "out.quarantine").chmod(0o755)
    code, text = _deid(capsys, delivery, tmp_path / "out", "--store", str(store), "--resume")
    assert "state database" in text and "readable by other users" in text and "chmod 600" in text
    assert "quarantine" in text and "chmod 700" in text


def test_a_fifo_in_the_source_is_listed_and_skipped_not_waited_on(delivery, tmp_path):
    os.mkfifo(delivery / "pipe")
    done = subprocess.run([str(Path(sys.executable).parent / "workbench"), "deid", str(delivery),
                           str(tmp_path / "out"), "--profile", "ps315-basic", "--store",
                           str(tmp_path / "s.db")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr  # the bad files are quarantined; the rest released
    assert "a FIFO, not a file" in done.stdout + done.stderr
    assert (tmp_path / "out").exists() and "Traceback" not in done.stderr


def test_a_file_given_as_the_output_is_a_clear_error(delivery, tmp_path, capsys):
    (tmp_path / "out").write_text("notes")
    code, text = _deid(capsys, delivery, tmp_path / "out", "--store", str(tmp_path / "s.db"))
    assert code == 1 and "is a file; give a folder" in text and "Traceback" not in text


def test_examples_with_no_patients_is_a_clear_error(tmp_path, capsys):
    assert main(["examples", str(tmp_path / "ex"), "--patients", "0"]) == 1
    assert "--patients must be 1 or more" in capsys.readouterr().err


def test_a_listing_piped_into_head_stops_quietly():
    done = subprocess.run(f"'{Path(sys.executable).parent / 'workbench'}' profiles show "
                          "ps315-basic | head -1", shell=True, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.startswith("ps315-basic") and "Traceback" not in done.stderr

"""A state database the user cannot write is one clear line before anything is written.

Permission bits do not stop root, so as root the store (or its folder) is made
immutable instead, which stops root's writes as read-only bits stop anyone else's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.store import Store


def _read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o500 if path.is_dir() else 0o400)
    elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("cannot make a file immutable here (no chattr, or a file system without it)")


def _writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_is_refused_before_the_run(bad_delivery, tmp_path, capsys, what):
    if shutil.which("chattr") is None and os.geteuid() == 0:
        pytest.skip("no chattr")
    store = tmp_path / "state" / "s.db"
    store.parent.mkdir()
    Store(store).close()
    locked = store if what == "file" else store.parent
    _read_only(locked)
    try:
        code = main(["deid", str(bad_delivery.delivery), str(tmp_path / "out"), "--profile",
                     "ps315-basic", "--store", str(store)])
    finally:
        _writable(locked)
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "state database" in lines[0] and "read-only" in lines[0] and "--store" in lines[0]
    assert not (tmp_path / "out").exists()

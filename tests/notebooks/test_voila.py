"""The spot-check notebook served as an app with Voila renders without an error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from .conftest import NOTEBOOKS, SPOT_CHECK

STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def voila_app(tmp_path):
    """Voila serving a copy of the spot-check notebook on a loopback port (HOME: tmp_path)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(NOTEBOOKS / SPOT_CHECK, tmp_path / SPOT_CHECK)
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    env.update(HOME=str(home), TQDM_DISABLE="1")
    with open(tmp_path / "voila.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True", SPOT_CHECK],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            try:
                requests.head(url + "static/", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "voila.log").read_text()[-3000:]
                time.sleep(0.3)
        yield url, home
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_voila_renders_the_spot_check_app(voila_app):
    url, home = voila_app
    page = requests.get(url, timeout=180)
    assert page.status_code == 200
    assert "There was an error when executing cell" not in page.text, page.text[-3000:]
    assert "Traceback" not in page.text
    # Code is hidden; the sample table and the widgets (contact sheet, PHI scan, form) show.
    assert "import ipywidgets" not in page.text
    assert all(f"SITE0{n}-0001" in page.text for n in (1, 2, 3))
    assert page.text.count("application/vnd.jupyter.widget-view+json") >= 3
    # With no output to check, the app made one from example data in the user's home.
    assert (home / "workbench-tour" / "out").is_dir()

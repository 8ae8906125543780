"""JupyterLab on a loopback port and Debian's Chromium driven through playwright.

The server runs with this interpreter (so its kernels are this environment's), a
random token, a fresh configuration and home folder, and no calls to the network:
no news feed, no update check, no extension manager. Chromium is the system's own
(``/usr/bin/chromium``); playwright's browser downloads are never used.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
STARTUP_SECONDS = 180.0
RUN_ALL_MS = 300_000
KERNEL_MS = 60_000
#: The marks of a browser test: skipped where Debian's Chromium is not installed.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (Debian "
                       "package 'chromium'; .ci/run installs it when run as root)"),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterLab:
    """A running JupyterLab server; :attr:`log` holds its output."""

    process: subprocess.Popen
    base_url: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        """Address of ``path`` (e.g. ``lab/tree/x.ipynb``) with the token."""
        return f"{self.base_url}{path}?token={self.token}"

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.base_url}api/{path}", timeout=10,
                                headers={"Authorization": f"token {self.token}"})

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Shut the server and its kernels down; kill it if it does not stop."""
        if self.process.poll() is None:
            try:
                self.api("POST", "shutdown")
            except requests.RequestException:
                self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _configure(home: Path) -> dict[str, str]:
    """A fresh home and Jupyter configuration; returns the server's environment."""
    config = home / ".jupyter"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {"news_url": None, "extension_manager": "readonly",
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
        # allow_root: CI runs as root in a throwaway container.
        "ServerApp": {"open_browser": False, "port_retries": 0, "allow_root": True,
                      "terminals_enabled": False}}))
    # No "receive news?" prompt over the notebook in screenshots.
    (config / "labconfig" / "page_config.json").write_text(json.dumps({
        "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # Every cell in the page (no virtual scrolling), so that tests can find any output.
    tracker = config / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), PYTHONUNBUFFERED="1")
    return env


@contextmanager
def jupyter_lab(root: Path, home: Path, log: Path) -> Iterator[JupyterLab]:
    """Run JupyterLab serving ``root`` on a free loopback port until the block ends."""
    token = secrets.token_hex(16)
    port = free_port()
    env = _configure(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = JupyterLab(process, f"http://127.0.0.1:{port}/", token, root, log)
    try:
        _wait_ready(lab)
        yield lab
    finally:
        lab.stop()


def _wait_ready(lab: JupyterLab) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {lab.process.returncode}:\n"
                               f"{lab.log_tail()}")
        try:
            if lab.api("GET", "status").status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {STARTUP_SECONDS:.0f} s:\n"
                       f"{lab.log_tail()}")


@contextmanager
def chromium(profile: Path, width: int = 1400, height: int = 1000):
    """A headless Chromium page (system browser, fresh profile) via playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def run_all(page) -> None:
    """Run All Cells of the notebook shown; fail with the first traceback a cell shows."""
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=KERNEL_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Done when every code cell has an execution count, or as soon as one shows an error.
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        const failed = [...document.querySelectorAll('.jp-OutputArea-output')]
            .some(o => o.textContent.includes('Traceback (most recent call last)'));
        return failed || (prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
    }""", timeout=RUN_ALL_MS)
    errors = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
    assert errors.count() == 0, errors.first.inner_text()[-3000:]

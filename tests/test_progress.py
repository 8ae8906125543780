"""Progress bars honour TQDM_DISABLE (CI, papermill) and an explicit switch-off."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = ("from workbench.progress import progress_bar\n"
        "list(progress_bar(range(3), desc='catalog'))\n"
        "list(progress_bar(range(3), desc='push', enabled=False))\n")


def _stderr(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    done = subprocess.run([sys.executable, "-c", SHOW], env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return done.stderr


def test_bars_show_unless_switched_off():
    shown = _stderr()
    assert "catalog: 100%" in shown
    assert "push" not in shown


def test_tqdm_disable_turns_every_bar_off():
    assert _stderr(TQDM_DISABLE="1") == ""

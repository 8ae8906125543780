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


def test_a_bar_drawn_into_a_widget_is_html_that_ends_full():
    script = ("import ipywidgets as w\n"
              "from workbench.progress import bars_into, progress_bar\n"
              "box = w.HTML()\n"
              "with bars_into(box):\n"
              "    list(progress_bar(range(5), desc='scan', unit='file'))\n"
              "    gone = progress_bar(total=9, desc='one study', leave=False)\n"
              "    gone.update(9); gone.close()\n"
              "print(box.value)\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    shown = subprocess.run([sys.executable, "-c", script], env=clean, capture_output=True,
                           text=True, check=True).stdout
    assert '<progress value="5" max="5"' in shown and "scan: 5/5" in shown
    assert "one study" not in shown  # a bar that should not stay is gone when it closes


def test_an_executed_notebook_keeps_the_bar_as_it_ended(monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    for key in [k for k in os.environ if k.startswith("TQDM_")]:
        monkeypatch.delenv(key)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from workbench.progress import progress_bar\n"
        "for _ in progress_bar(range(342), desc='de-identify', unit='file'):\n    pass")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    shown = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "de-identify: 342/342" in shown and '<progress value="342" max="342"' in shown
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs)  # no widget that a saved copy cannot draw

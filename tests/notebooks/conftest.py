"""Run the notebooks as a user would: papermill with parameters, on small example data.

The kernel is ``python3``; jupyter_client starts it with this interpreter, so the
notebooks import the same ``workbench`` as the tests. Every path a notebook writes to
is a parameter pointing into the test's temporary folder.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.examples import Planted, generate

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
TOUR, CURATE, SPOT_CHECK = "00_tour.ipynb", "10_curate.ipynb", "30_spot_check.ipynb"
ALL = [TOUR, CURATE, SPOT_CHECK]


def execute(notebook: str | Path, folder: Path, **parameters) -> nbformat.NotebookNode:
    """Execute ``notebook`` (a name in notebooks/ or a path) into ``folder``; return it.

    A cell that raises fails the test with papermill's message (cell and traceback).
    """
    source = NOTEBOOKS / notebook if isinstance(notebook, str) else notebook
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(source).name
    papermill.execute_notebook(str(source), str(target), parameters=parameters,
                               kernel_name="python3", cwd=str(folder), progress_bar=False,
                               execution_timeout=600)  # a hung cell fails, naming itself
    return nbformat.read(target, as_version=4)


def text_of(nb: nbformat.NotebookNode) -> str:
    """Every stream and plain-text output of an executed notebook, in order."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def receipt_rows(out: Path) -> list[dict[str, str]]:
    """Rows of every push receipt (CSV) written beside the output folder ``out``."""
    rows = []
    for path in sorted(out.parent.glob(f"{out.name}.receipts/*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    return rows


@dataclass
class TourRun:
    """The tour executed once with small example data; treat its files as read-only."""

    nb: nbformat.NotebookNode
    work: Path
    patients: int

    @property
    def out(self) -> Path:
        return self.work / "out"

    @property
    def store_path(self) -> Path:
        return self.work / "state.sqlite"

    @property
    def planted(self) -> Planted:
        return Planted.from_json(self.work / "example" / "planted.json")


@pytest.fixture(scope="session")
def tour_run(tmp_path_factory: pytest.TempPathFactory) -> TourRun:
    """The tour under papermill: six patients (two per site), 4 CT slices of 64 x 64."""
    folder = tmp_path_factory.mktemp("tour")
    nb = execute(TOUR, folder, work_dir=str(folder / "work"), patients=6, seed=3, ct_slices=4,
                 ct_size=64)
    return TourRun(nb, folder / "work", 6)


@pytest.fixture(scope="session")
def small_delivery(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Three patients, one per site, 4 CT slices of 64 x 64."""
    return generate(tmp_path_factory.mktemp("curate-example"), patients=3, seed=2, ct_slices=4,
                    ct_size=64)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ``folder``: sources must not change."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            st = (Path(dirpath) / name).stat()
            found[os.path.relpath(Path(dirpath) / name, folder)] = (st.st_size, st.st_mtime_ns)
    return found

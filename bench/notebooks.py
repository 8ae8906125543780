"""Time the notebooks under papermill against the same code run as a plain script.

For each case the notebook gets its parameters injected (``papermill --prepare-only``)
and then runs twice on fresh folders: under papermill (a kernel, widgets built but no
browser) and as the script nbconvert exports from it, run by this interpreter (no
kernel). The ratio is what running the steps as a notebook costs on top of the work.

Usage: ``python bench/notebooks.py [--quick]`` (``--quick``: small CT only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
from nbconvert import PythonExporter

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _prepare(name: str, folder: Path, parameters: dict) -> Path:
    target = folder / f"prepared-{name}"
    papermill.execute_notebook(str(NOTEBOOKS / name), str(target), parameters=parameters,
                               kernel_name="python3", prepare_only=True, progress_bar=False)
    return target


def _papermill(prepared: Path, folder: Path) -> float:
    start = time.perf_counter()
    papermill.execute_notebook(str(prepared), str(folder / "executed.ipynb"),
                               kernel_name="python3", cwd=str(folder), progress_bar=False)
    return time.perf_counter() - start


def _script(prepared: Path, folder: Path) -> float:
    source, _ = PythonExporter().from_notebook_node(nbformat.read(prepared, as_version=4))
    script = folder / "notebook.py"
    script.write_text(source, encoding="utf-8")
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - start


def _case(root: Path, label: str, name: str, parameters: dict,
          store: Path | None = None) -> tuple[str, float, float]:
    """Run one case both ways, each in its own folder (``{run}`` in parameters).

    ``store`` is copied to ``{run}/state.sqlite`` first (the spot check signs off in it).
    """
    times = []
    for way, run in (("papermill", _papermill), ("script", _script)):
        folder = root / f"{label}-{way}"
        folder.mkdir(parents=True)
        if store is not None:
            shutil.copyfile(store, folder / "state.sqlite")
        values = {k: v.format(run=folder) if isinstance(v, str) else v
                  for k, v in parameters.items()}
        times.append(run(_prepare(name, folder, values), folder))
    return (label, *times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small CT only")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as tmp:
        root = Path(tmp)
        sizes = [(12, 128)] if args.quick else [(12, 128), (40, 512)]
        for slices, size in sizes:
            rows.append(_case(root, f"00_tour 3 patients, CT {slices}x{size}x{size}",
                              "00_tour.ipynb", {"work_dir": "{run}/tour", "ct_slices": slices,
                                                "ct_size": size}))
        rows.append(_case(root, "10_curate example (3 patients, CT 8x128x128)",
                          "10_curate.ipynb", {"work_dir": "{run}/curate",
                                              "store_path": "{run}/curate/state.sqlite"}))
        tour = root / "00_tour 3 patients, CT 12x128x128-papermill" / "tour"
        rows.append(_case(root, "30_spot_check on the tour's output (3 studies)",
                          "30_spot_check.ipynb", {"out": str(tour / "out"),
                                                  "store_path": "{run}/state.sqlite",
                                                  "reviewer": "bench"},
                          store=tour / "state.sqlite"))
    width = max(len(r[0]) for r in rows)
    print(f"{'notebook':{width}}  {'papermill s':>11}  {'script s':>8}  {'ratio':>5}")
    for label, notebook, script in rows:
        print(f"{label:{width}}  {notebook:11.1f}  {script:8.1f}  {notebook / script:5.2f}")
    print("ratio: papermill time / plain-script time for the same code and parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())

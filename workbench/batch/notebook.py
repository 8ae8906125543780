"""Run the batch notebook with papermill into a new run folder (``workbench batch``).

The executed notebook is the audit record of the run; next to it go its HTML
copy and what :func:`~workbench.batch.run_batch` wrote (``studies.csv``,
``totals.csv``, ``manifest.json``). A run that fails keeps all of these as far
as it got. Before the command returns, the record's text files are checked
against the trial's linkage key (names, IDs, accession numbers) and anything
found is removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from ..profile import load_profile
from ..store import Store
from ..errors import BatchError
from .record import new_run_dir, scrub

NOTEBOOK_NAME = "20_batch_trial.ipynb"
#: Parameters set by the command's own arguments, not by ``-p``.
FROM_ARGUMENTS = {"source": "the SRC argument", "output": "the OUT argument",
                  "profile": "--profile", "store": "--store", "run_dir": "--runs",
                  "progress": "workbench batch itself (no progress bars in a recorded run)"}
TRUE, FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclass
class NotebookRun:
    """A finished ``workbench batch``: where its record is and how it ended."""

    run_dir: Path
    status: str  # finished | failed | interrupted
    message: str
    totals: dict[str, dict[str, int]]

    @property
    def exit_code(self) -> int:
        """0: done; 2: done, some studies held for a person; 1: failed."""
        if self.status != "finished":
            return 1
        return 2 if {"quarantined", "changed after push"} & set(self.totals) else 0


def default_notebook() -> Path:
    """The batch notebook: ``notebooks/`` of the source tree this package runs from,
    else the copy installed with the package (``<prefix>/share/workbench/notebooks``)."""
    for folder in (Path(__file__).resolve().parents[2] / "notebooks",
                   Path(sysconfig.get_path("data")) / "share" / "workbench" / "notebooks"):
        if (folder / NOTEBOOK_NAME).is_file():
            return folder / NOTEBOOK_NAME
    raise BatchError(f"the batch notebook {NOTEBOOK_NAME} is neither in a source tree nor "
                     "installed with this package; pass --notebook with its path "
                     "(notebooks/ in the source).")


def parameter_types(notebook: Path) -> dict[str, str]:
    """The notebook's parameters and their declared types (``str``, ``int``, ``bool``)."""
    import papermill

    return {name: info["inferred_type_name"]
            for name, info in papermill.inspect_notebook(str(notebook)).items()}


def parse_values(pairs: list[tuple[str, str]], types: dict[str, str]) -> dict[str, Any]:
    """``-p KEY VALUE`` pairs as typed parameter values.

    Raises
    ------
    BatchError
        For an unknown key, a key set by an argument, or a value of the wrong type.
    """
    values: dict[str, Any] = {}
    for key, text in pairs:
        if key in FROM_ARGUMENTS:
            raise BatchError(f"parameter {key} is set by {FROM_ARGUMENTS[key]}, not by -p.")
        if key not in types:
            known = ", ".join(sorted(set(types) - set(FROM_ARGUMENTS)))
            raise BatchError(f"unknown parameter {key!r}; the notebook takes {known}.")
        kind = types[key]
        if kind == "bool":
            if text.lower() not in TRUE | FALSE:
                raise BatchError(f"parameter {key} takes true or false, not {text!r}.")
            values[key] = text.lower() in TRUE
        elif kind == "int":
            if not re.fullmatch(r"[+-]?\d+", text.strip()):
                raise BatchError(f"parameter {key} takes a whole number, not {text!r}.")
            values[key] = int(text)
        else:
            values[key] = text
    return values


def linkage_identities(store: Store, trial: str) -> set[str]:
    """Names (components of three or more characters), IDs and lookup keys in the linkage."""
    buffer = io.StringIO()
    store.export_keys(buffer, trial)
    found: set[str] = set()
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        found.update(v for v in (row["key_value"], row["patient_id"]) if v)
        found.update(re.split(r"[\^=,\s]+", row["patient_name"] or ""))
    return {s for s in found if len(s) >= 3}


#: How long one cell of an unattended run may take before it is stopped (seconds).
CELL_TIMEOUT = 3600


def run_notebook(src: str | os.PathLike, out: str | os.PathLike, profile: str, *,
                 store: str | None = None, values: dict[str, Any] | None = None,
                 runs: str | os.PathLike = "runs", notebook: str | os.PathLike | None = None,
                 progress: bool = True, cell_timeout: int | None = CELL_TIMEOUT) -> NotebookRun:
    """Execute the batch notebook into ``<runs>/<trial>/<UTC time>_<id>/`` and convert it.

    Parameters
    ----------
    src, out, profile, store
        The batch's source, output, profile and state database.
    values
        Further notebook parameters (as from :func:`parse_values`).
    runs
        Folder holding the run folders.
    notebook
        The notebook to run (default: :func:`default_notebook`).
    progress
        Show papermill's progress over the cells.
    cell_timeout
        Seconds one cell may run before it is stopped and the run fails, saying which
        cell (None: no limit); an unattended run never hangs silently.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    try:
        trial = load_profile(profile).trial_key
    except ProfileError as exc:
        raise BatchError(str(exc)) from None
    notebook = Path(notebook) if notebook else default_notebook()
    run_dir = new_run_dir(runs, trial).resolve()
    run_dir.mkdir(parents=True)
    parameters = {**(values or {}), "source": str(Path(src).resolve()),
                  "output": str(Path(out).resolve()), "profile": profile,
                  "store": str(Path(store).resolve()) if store else "", "run_dir": str(run_dir),
                  "progress": False}
    executed = run_dir / NOTEBOOK_NAME
    error = ""
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters=parameters,
                                   progress_bar=progress, cwd=os.getcwd(),
                                   execution_timeout=cell_timeout)
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    except CellTimeoutError:
        error = _timed_out(executed, cell_timeout)
    finally:
        if executed.exists():
            _write_html(executed)
        scrub(run_dir, linkage_identities(Store(store), trial))
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() \
        else {}
    status, message = manifest.get("status", "failed"), manifest.get("message") or error
    if status == "running" or (error and status == "finished"):
        status = "failed"
        message = message or "the notebook's kernel stopped before the run finished"
    return NotebookRun(run_dir, status, message, manifest.get("totals", {}))


def _timed_out(executed: Path, seconds: int | None) -> str:
    """The message of a run stopped in a cell that ran too long, naming the cell."""
    import nbformat

    cells = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    for n, cell in enumerate(cells, start=1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return (f"code cell {n} of {len(cells)} of the executed notebook "
                    f"({first.strip()[:60]!r}) ran longer than {seconds} s and was stopped: it hangs or needs more time; run it again "
                    "with a longer --cell-timeout if it was working")
    return f"a cell ran longer than {seconds} s and was stopped"


def _write_html(executed: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    executed.with_suffix(".html").write_text(body, encoding="utf-8")

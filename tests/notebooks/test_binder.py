"""Replay binder/ as repo2docker builds it, then run the tour in the result.

mybinder cannot be reached from a test, so this does what repo2docker does: copy the
repository, install ``binder/requirements.txt`` from its root into a fresh environment
(no site packages from this one) and run ``binder/postBuild``. The tour must then run
top to bottom on the example data that postBuild made, with the profiles that the
installed package ships.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest

from .conftest import NOTEBOOKS, REPO, TOUR, receipt_rows

NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "test-output", "demo", "build",
                                   "*.egg-info", "__pycache__", ".pytest_cache",
                                   ".ipynb_checkpoints")


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (f"{' '.join(command)} failed ({done.returncode}):\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _tour_defaults() -> dict[str, object]:
    nb = nbformat.read(NOTEBOOKS / TOUR, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return {s.targets[0].id: s.value.value for s in ast.parse(cell.source).body}


@pytest.mark.slow
def test_binder_replay_runs_the_tour_on_postbuild_data(tmp_path):
    repo, home, env_dir = tmp_path / "repo", tmp_path / "home", tmp_path / "env"
    shutil.copytree(REPO, repo, ignore=NOT_COPIED)
    home.mkdir()
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH") and not key.startswith("JUPYTER")}
    env.update(HOME=str(home), PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}",
               TQDM_DISABLE="1")

    _run([str(python), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
         repo, env)
    installed = subprocess.run([str(python), "-c", "import workbench; print(workbench.__file__)"],
                               cwd=home, env=env, capture_output=True, text=True,
                               check=True).stdout
    assert Path(installed.strip()).is_relative_to(env_dir)  # not this checkout, not this env
    _run(["./binder/postBuild"], repo, env)
    planted = json.loads((home / "workbench-tour" / "example" / "planted.json").read_text())
    defaults = _tour_defaults()
    assert {k: planted["parameters"][k] for k in ("patients", "seed", "ct_slices", "ct_size")} \
        == {k: defaults[k] for k in ("patients", "seed", "ct_slices", "ct_size")}, \
        "postBuild and the tour's parameters disagree: the tour would not use Binder's data"

    executed = tmp_path / "tour-run.ipynb"
    _run(["python", "-m", "papermill", f"notebooks/{TOUR}", str(executed),
          "-k", "python3", "--cwd", "notebooks"], repo, env)
    rows = receipt_rows(home / "workbench-tour" / "out")
    assert len(rows) == defaults["patients"] and {r["status"] for r in rows} == {"uploaded"}

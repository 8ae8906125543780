"""The package as a site installs it: from a wheel, without the source tree beside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT)], check=True)
    return next(wheels.glob("workbench-*.whl"))


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (not editable), its dependencies from this one."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(site)], check=True)
    python = site / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True)
    # workbench comes from the wheel, its dependencies from this environment (after it)
    installed = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                     "get_path('purelib'))"], capture_output=True, text=True,
                                    check=True).stdout.strip())
    (installed / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return site


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "WORKBENCH_PROFILE_PATH", "XNAT_USER", "XNAT_PASSWORD")}
    return {**env, "TQDM_DISABLE": "1"}


def test_wheel_holds_every_module_and_the_profiles_as_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "workbench").rglob("*.py")}
    assert modules <= names, (f"modules missing from the wheel: {sorted(modules - names)}; "
                              "list their package in pyproject.toml's [tool.setuptools] packages")
    profiles = {p.relative_to(ROOT).as_posix() for p in (ROOT / "profiles").rglob("*")
                if p.is_file() and p.suffix in (".yaml", ".md")}
    assert profiles and {f"workbench/{p}" for p in profiles} <= names
    assert not any(n.startswith("profiles/") for n in names)  # not a top-level package


def test_wheel_carries_profiles_tables_and_the_batch_notebook(site, tmp_path):
    python = site / "bin" / "python"
    code = ("import json, workbench\n"
            "from workbench.batch.notebook import default_notebook\n"
            "from workbench.profile import load_profile, shipped_profiles_dir\n"
            "from workbench.protocol import load_protocol\n"
            "profile = load_profile('eucanimage-pet')\n"
            "print(json.dumps([workbench.__file__, str(default_notebook()), profile.name,\n"
            "                  len(profile.plan.actions), str(shipped_profiles_dir()),\n"
            "                  load_protocol('petct-trial').name]))")
    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=_env())
    assert done.returncode == 0, done.stderr
    module, notebook, profile, actions, profiles, protocol = json.loads(done.stdout)
    assert Path(module).is_relative_to(site)
    assert Path(profiles) == Path(module).parent / "profiles"  # the package data, not a checkout
    assert Path(notebook) == site / "share" / "workbench" / "notebooks" / "20_batch_trial.ipynb"
    assert Path(notebook).read_bytes() == (ROOT / "notebooks" / "20_batch_trial.ipynb").read_bytes()
    assert profile == "eucanimage-pet" and actions > 300  # Table E.1-1 came with the wheel
    assert protocol == "petct-trial"


@pytest.mark.slow
def test_installed_wheel_lists_every_shipped_profile_and_runs_the_demo(site, tmp_path):
    workbench = str(site / "bin" / "workbench")
    listed = subprocess.run([workbench, "profiles", "list"], cwd=tmp_path, capture_output=True,
                            text=True, env=_env())
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert names == {p.stem for p in (ROOT / "profiles").glob("*.yaml")}

    demo = subprocess.run([workbench, "demo", str(tmp_path / "demo"), "--patients", "1"],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    held = re.search(r"the server holds (\d+) of (\d+) files", demo.stdout)
    assert held and int(held[1]) == int(held[2]) > 0, demo.stdout[-3000:]

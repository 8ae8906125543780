"""The package as a site installs it: from a wheel, without the source tree beside it."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_profiles_tables_and_the_batch_notebook(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT)], check=True)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(site)], check=True)
    python = site / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", str(next(wheels.glob("workbench-*.whl")))], check=True)

    # workbench comes from the wheel, its dependencies from this environment (after it)
    installed = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                     "get_path('purelib'))"], capture_output=True, text=True,
                                    check=True).stdout.strip())
    (installed / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    code = ("import json, workbench\n"
            "from workbench.batch.notebook import default_notebook\n"
            "from workbench.profile import load_profile\n"
            "profile = load_profile('eucanimage-pet')\n"
            "print(json.dumps([workbench.__file__, str(default_notebook()), profile.name,\n"
            "                  len(profile.plan.actions)]))")
    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    module, notebook, profile, actions = json.loads(done.stdout)
    assert Path(module).is_relative_to(site)
    assert Path(notebook) == site / "share" / "workbench" / "notebooks" / "20_batch_trial.ipynb"
    assert Path(notebook).read_bytes() == (ROOT / "notebooks" / "20_batch_trial.ipynb").read_bytes()
    assert profile == "eucanimage-pet" and actions > 300  # Table E.1-1 came with the wheel

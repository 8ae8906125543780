"""Whichever executor runs a batch, the outputs and the record are the same."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.batch import BatchError, run_batch
from workbench.batch.executors import CLUSTER_SETTINGS

from .conftest import SECRET, outputs, settings_for


def rows_of(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "studies.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_in_process_spawn_pool_and_dask_give_byte_identical_outputs(delivery, dask_cluster,
                                                                    tmp_path):
    runs = {
        "in-process": (settings_for(delivery, tmp_path / "one", workers=1), {}),
        "spawn pool": (settings_for(delivery, tmp_path / "spawn", workers=2),
                       {"start_method": "spawn"}),
        "dask": (settings_for(delivery, tmp_path / "dask",
                              scheduler=dask_cluster.scheduler_address), {}),
    }
    results = {name: run_batch(s, secret=SECRET, progress=False, **kw)
               for name, (s, kw) in runs.items()}
    assert {r.status for r in results.values()} == {"finished"}
    files = {name: outputs(Path(s.output)) for name, (s, _) in runs.items()}
    assert len(files["in-process"]) == sum(r.deidentified for r in results["dask"].rows) > 100
    assert files["spawn pool"] == files["in-process"]
    assert files["dask"] == files["in-process"]
    records = {name: rows_of(r.run_dir) for name, r in results.items()}
    assert records["spawn pool"] == records["in-process"] == records["dask"]
    manifest = (results["dask"].run_dir / "manifest.json").read_text()
    assert '"kind": "dask"' in manifest and '"workers": 2' in manifest
    assert '"start_method": "spawn"' in (results["spawn pool"].run_dir / "manifest.json"
                                         ).read_text()


def test_an_unreachable_scheduler_is_named_before_any_work(delivery, tmp_path):
    settings = settings_for(delivery, tmp_path, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(BatchError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0"
                                         r"\.1:9"):
        run_batch(settings, secret=SECRET, progress=False, scheduler_timeout=2)
    assert not Path(settings.output).exists()


def _flat(tree: dict, prefix: str = "") -> dict:
    found = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(_flat(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


def test_the_readme_gives_the_cluster_settings_and_the_workers_run_with_them(dask_cluster):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**On a multi-machine Dask cluster.**"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)[1]
    assert _flat(yaml.safe_load(block)) == CLUSTER_SETTINGS

    from distributed import Client

    with Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        seen = client.run(lambda dask_worker: (
            {name: pc.callback_time for name, pc in dask_worker.periodic_callbacks.items()},
            os.environ.get("MALLOC_TRIM_THRESHOLD_")))
    for callbacks, trim in seen.values():
        assert "profile" not in callbacks  # no sampling of the running task
        assert callbacks["tick"] == callbacks["memory_monitor"] == 1000
        assert callbacks["monitor"] == 5000
        assert trim is None


def test_a_worker_imports_what_its_tasks_need_and_not_pandas():
    code = ("import sys, workbench.batch.dispatch, workbench.batch.survey; "
            "print(sorted({'pandas', 'matplotlib', 'ipywidgets'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"

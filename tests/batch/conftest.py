"""Fixtures for the batch tests: small example deliveries, settings, a Dask LocalCluster."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from workbench.batch import BatchSettings
from workbench.examples import Planted, generate

SECRET = b"batch-test-secret-0123456789abcdef"
PROFILE = "rt-trial"  # every study selected; the MR studies verify clean, PET-CT hold one file


@pytest.fixture(scope="session")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Three patients (six studies, 150 files) with 64 x 64 CT; read only."""
    return generate(tmp_path_factory.mktemp("batch-delivery"), patients=3, seed=2, ct_slices=4,
                    ct_size=64)


@pytest.fixture
def own_delivery(delivery: Planted, tmp_path: Path) -> Planted:
    """A copy of ``delivery`` that the test may change."""
    root = tmp_path / "own"
    shutil.copytree(delivery.root, root)
    return Planted.from_json(root / "planted.json")


def settings_for(planted: Planted, root: Path, profile: str = PROFILE,
                 **changes) -> BatchSettings:
    """Settings over ``planted`` with output, store and records under ``root``."""
    lookup = planted.events_csv if profile == "ltp2-jpl" else planted.subjects_csv
    base = BatchSettings(profile=profile, source=str(planted.delivery), output=str(root / "out"),
                         site="SITE01", lookup=str(lookup), store=str(root / "state.sqlite"),
                         run_dir=str(root / "runs" / "first"))
    return replace(base, **changes)


def outputs(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def ledger_states(store: Path) -> dict[str, int]:
    """Studies per state in the batch ledger, read without locking out a running batch."""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.2)
        try:
            rows = db.execute("SELECT state, count(*) FROM batch_studies GROUP BY state")
            return dict(rows.fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[object]:
    """A two-worker Dask LocalCluster (processes, one thread each, no fixed ports).

    It runs with the settings the README gives for a batch's cluster.
    """
    import dask
    from distributed import LocalCluster

    from workbench.batch.executors import CLUSTER_SETTINGS

    with dask.config.set(CLUSTER_SETTINGS):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", host="127.0.0.1")
    yield cluster
    cluster.close()

"""Fixtures for the push tests: small de-identified outputs and a sandbox XNAT with ANIMATE."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import xnat
from pydicom import dcmread

# The sandbox's fixtures (tests/sandbox/conftest.py), shared with these tests.
from sandbox.conftest import (COLLABORATOR, OWNER, SandboxHandle, make_study,  # noqa: F401
                              sandbox_xnat)
from workbench.approval import APPROVED, sign
from workbench.deid.run import deidentify_delivery
from workbench.examples import Planted, generate
from workbench.push import push_studies
from workbench.profile import load_profile
from workbench.push.result import PushResult
from workbench.store import Store

PROFILE = "uk-pet-core-lab"
PROJECT = "ANIMATE"


@dataclass
class Output:
    """A de-identified output folder and the store that verified it."""

    out: Path
    store_path: Path

    @property
    def store(self) -> Store:
        return Store(self.store_path)

    def study_dirs(self) -> list[Path]:
        return sorted(p for p in self.out.glob("*/*") if p.is_dir())


def deidentify(planted: Planted, root: Path, approve: bool = True) -> Output:
    out, store_path = root / "out", root / "state.sqlite"
    store = Store(store_path)
    deidentify_delivery(planted.delivery, out, PROFILE, store=store,
                        lookup=str(planted.subjects_csv), progress=False)
    if approve:  # a person's approval: without it nothing is pushed
        sign(store, load_profile(PROFILE).trial_key, out, [], APPROVED, "Test Reviewer",
             every=True)
    return Output(out, store_path)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Two patients, 6 CT slices of 32 x 32 plus 20 PET slices each: two studies of 26 files."""
    return generate(tmp_path_factory.mktemp("push-example"), patients=2, seed=1, ct_size=32,
                    ct_slices=6)


@pytest.fixture(scope="session")
def output(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> Output:
    """Shared de-identified output (uk-pet-core-lab); read only."""
    return deidentify(planted, tmp_path_factory.mktemp("push-output"))


@pytest.fixture
def fresh_output(planted: Planted, tmp_path: Path) -> Output:
    """A de-identified output of this test's own, free to change."""
    return deidentify(planted, tmp_path / "fresh")


@pytest.fixture
def xnat_server(sandbox_xnat: SandboxHandle,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    """The sandbox with project ANIMATE (alice owner, bob collaborator); alice's login in env."""
    sandbox_xnat.server.create_project(PROJECT, owner=OWNER[0])
    sandbox_xnat.server.set_role(PROJECT, COLLABORATOR[0], "collaborator")
    monkeypatch.setenv("XNAT_USER", OWNER[0])
    monkeypatch.setenv("XNAT_PASSWORD", OWNER[1])
    monkeypatch.setenv("NETRC", str(sandbox_xnat.data_dir / "no-netrc"))
    return sandbox_xnat


@pytest.fixture
def push(xnat_server: SandboxHandle, output: Output, tmp_path: Path):
    """Push ``output`` (or another Output) to the sandbox; keyword arguments go to push_studies."""
    def run(source: Output | None = None, **options) -> PushResult:
        source = source or output
        options = {"url": xnat_server.url, "progress": False, "retry_wait": 0.0,
                   "receipts": tmp_path / "receipts", **options}
        return push_studies(source.out, PROFILE, store=source.store, **options)

    return run


def connect(server: SandboxHandle, user: str = OWNER[0], password: str = OWNER[1]):
    return xnat.connect(server.url, user=user, password=password, loglevel="ERROR")


def holdings(server: SandboxHandle, project: str = PROJECT) -> dict[str, dict[str, int]]:
    """Per session label of ``project``: file count per scan, straight from the server's index."""
    store = server.server.store
    found: dict[str, dict[str, int]] = {}
    with store.lock:
        for experiment in store.project_experiments(project):
            label = store.experiment_label(experiment, project)
            found[label] = {scan_id: len(resource["files"])
                            for scan_id in experiment["scans"]
                            for resource in store.resources_of(("scan", experiment["ID"],
                                                                scan_id))}
    return found


def imports(server: SandboxHandle) -> list[int]:
    """Status of every import request the sandbox saw (0: connection cut)."""
    return [status for method, path, status in server.server.requests
            if method == "POST" and path == "/data/services/import"]


def expected_holdings(output: Output) -> dict[str, dict[str, int]]:
    """What a complete push of ``output`` leaves on the server: files per scan per session."""
    found: dict[str, dict[str, int]] = {}
    for study in output.study_dirs():
        files = sorted(p for p in study.rglob("*") if p.is_file())
        ds = dcmread(files[0], stop_before_pixels=True)
        label = f"{study.parent.name}_{ds.StudyDate}"
        per_scan: dict[str, int] = {}
        for path in files:
            number = path.parent.name.split("_")[-1]
            per_scan[number] = per_scan.get(number, 0) + 1
        found[label] = per_scan
    return found

"""Fixtures for the push tests: small de-identified outputs, and pushing them to the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import xnat
from support import OWNER, PROFILE, Output, SandboxHandle, deidentify

from workbench.examples import Planted, generate
from workbench.push import push_studies
from workbench.push.result import PushResult


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


def imports(server: SandboxHandle) -> list[int]:
    """Status of every import request the sandbox saw (0: connection cut)."""
    return [status for method, path, status in server.server.requests
            if method == "POST" and path == "/data/services/import"]

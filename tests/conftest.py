"""Shared fixtures: synthetic deliveries with planted identifiers, the sandbox XNAT, and
the curated delivery (helpers that are not fixtures are in tests/support.py).

The deliveries are session-scoped and shared between tests: treat them as
read-only and copy them before changing anything.
"""

from pathlib import Path
from typing import Callable, Iterator

import pytest
from support import (ADMIN, COLLABORATOR, OUTSIDER, OWNER, PROJECT, Curated, DicomStudy,
                     SandboxHandle, build_curated, study_zips)

from workbench.examples import Planted, generate
from workbench.sandbox import SandboxServer


@pytest.fixture(scope="session")
def example_delivery(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Two patients (default and Latin-1 character sets), 40 x 512 x 512 CT, seed 1."""
    root: Path = tmp_path_factory.mktemp("example")
    return generate(root, patients=2, seed=1)


@pytest.fixture(scope="session")
def bad_delivery(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Like ``example_delivery`` with 64 x 64 CT slices plus the problem files of ``bad_files``."""
    root: Path = tmp_path_factory.mktemp("bad")
    return generate(root, patients=2, seed=1, ct_size=64, bad_inputs=True)


@pytest.fixture
def sandbox_xnat(tmp_path: Path) -> Iterator[SandboxHandle]:
    """Sandbox on a free loopback port with project P1 owned by alice, bob as collaborator.

    Users: admin (site admin), alice (owner of P1 and P2), bob (collaborator in P1),
    carol (no project).
    """
    data_dir = tmp_path / "sandbox-data"
    server = SandboxServer(data_dir, users=dict([OWNER, COLLABORATOR, OUTSIDER]),
                           admins=dict([ADMIN])).start()
    server.create_project("P1", owner=OWNER[0])
    server.create_project("P2", owner=OWNER[0])
    server.set_role("P1", COLLABORATOR[0], "collaborator")
    handle = SandboxHandle(server, data_dir)
    yield handle
    handle.server.stop()


@pytest.fixture
def xnat_server(sandbox_xnat: SandboxHandle,
                monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    """The sandbox with project ANIMATE (alice owner, bob collaborator); alice's login in env."""
    sandbox_xnat.server.create_project(PROJECT, owner=OWNER[0])
    sandbox_xnat.server.set_role(PROJECT, COLLABORATOR[0], "collaborator")
    monkeypatch.setenv("XNAT_USER", OWNER[0])
    monkeypatch.setenv("XNAT_PASSWORD", OWNER[1])
    monkeypatch.setenv("NETRC", str(sandbox_xnat.data_dir / "no-netrc"))
    return sandbox_xnat


@pytest.fixture(scope="session")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Curated:
    """Two patients de-identified with uk-pet-core-lab, paired (read only)."""
    return build_curated(tmp_path_factory)


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., DicomStudy]:
    """Factory writing zips of small CT studies (see :func:`support.study_zips`)."""
    return study_zips(tmp_path)

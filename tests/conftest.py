"""Shared fixtures: synthetic deliveries with planted identifiers.

The deliveries are session-scoped and shared between tests: treat them as
read-only and copy them before changing anything.
"""

from pathlib import Path

import pytest

from workbench.examples import Planted, generate


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

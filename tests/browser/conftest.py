"""Fixtures for the browser tests: where the screenshots go."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "browser"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """test-output/browser/ (old pictures removed): what the browser showed, for people."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS

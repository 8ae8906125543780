"""PushPanel against the sandbox XNAT: push, pause, cancel, retry, errors in the panel."""

from __future__ import annotations

import time
from pathlib import Path

from support import Curated, holdings
from workbench.approval import APPROVED, sign
from workbench.store import Store
from workbench.widgets import PushPanel


PROJECT = "ANIMATE"


def until(condition, what: str, timeout: float = 60.0) -> None:
    """Wait for a background thread to reach a state (a guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def panel(curated: Curated, server, tmp_path: Path, **options) -> PushPanel:
    sign(Store(curated.store_path), curated.profile.trial_key, curated.out, [], APPROVED,
         "Test Reviewer", every=True)  # a person's approval: without it nothing is pushed
    return PushPanel(curated.out, curated.profile, curated.store_path, url=server.url,
                     receipts=tmp_path / "receipts", retry_wait=0.0, **options)


def test_push_runs_in_the_background_and_summarises(curated: Curated, xnat_server,
                                                     tmp_path: Path):
    push = panel(curated, xnat_server, tmp_path)
    studies = list(push.table["study"])
    assert len(studies) == 2 and set(push.table["status"]) == {"pending"}
    assert push.destination.value == xnat_server.url and push.project.value == PROJECT
    push.push_button.click()
    result = push.wait(120)
    assert not push.busy and result is push.result
    assert set(push.table["status"]) == {"uploaded"}
    assert "Done: 2 uploaded" in push.status.value
    assert push.results.value.count("uploaded") == 2
    assert push.retry_button.disabled and not push.push_button.disabled
    sessions = holdings(xnat_server, PROJECT)
    assert sorted(push.table["session"]) == sorted(sessions)
    push.push_button.click()
    push.wait(120)
    assert set(push.table["status"]) == {"already present"}
    push.close()


def test_pause_cancel_and_retry(curated: Curated, xnat_server, tmp_path: Path):
    push = panel(curated, xnat_server, tmp_path)
    push.pause_button.click()
    assert push.pause_button.description == "resume" and "Paused" in push.status.value
    push.push_button.click()
    until(lambda: push.controller.waiting, "the push to hold before its first study")
    assert push.busy and push.push_button.disabled
    push.cancel_button.click()
    result = push.wait(120)
    assert [o.status for o in result.outcomes] == ["cancelled", "cancelled"]
    assert set(push.table["status"]) == {"cancelled"} and "2 not pushed" in push.status.value
    assert holdings(xnat_server, PROJECT) == {}
    assert not push.retry_button.disabled
    push.retry_button.click()
    result = push.wait(120)
    assert [o.status for o in result.outcomes] == ["uploaded", "uploaded"]
    assert set(push.table["status"]) == {"uploaded"}
    assert len(holdings(xnat_server, PROJECT)) == 2
    push.close()


def test_resume_lets_a_paused_push_go_on(curated: Curated, xnat_server, tmp_path: Path):
    push = panel(curated, xnat_server, tmp_path)
    push.pause_button.click()
    push.push_button.click()
    until(lambda: push.controller.waiting, "the push to hold")
    push.pause_button.click()
    assert push.pause_button.description == "pause"
    push.wait(120)
    assert set(push.table["status"]) == {"uploaded"}
    push.close()


def test_errors_show_in_the_panel(curated: Curated, xnat_server, tmp_path: Path, monkeypatch):
    push = panel(curated, xnat_server, tmp_path)
    monkeypatch.setenv("XNAT_PASSWORD", "wrong")
    push.push_button.click()
    push.wait(120)
    assert "The push stopped" in push.status.value and "refused the login" in push.status.value
    assert "Traceback" not in push.status.value
    assert not push.push_button.disabled and push.result is None
    monkeypatch.undo()
    push.destination.value = "not a url"
    push.push_button.click()
    push.wait(120)
    assert "must start with http" in push.status.value
    push.close()


def test_a_folder_without_studies_says_so(curated: Curated, tmp_path: Path):
    empty = tmp_path / "empty-out"
    empty.mkdir()
    push = PushPanel(empty, curated.profile, curated.store_path, url="http://127.0.0.1:1")
    assert push.table.empty and "No study folders" in push.results.value
    push.close()

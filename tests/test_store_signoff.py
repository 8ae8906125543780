"""A reviewer's sign-off of a de-identified study: recorded, append-only, audited."""

from __future__ import annotations

import json
import sqlite3

import pytest

from workbench.errors import StoreError
from workbench.store import Store

TRIAL = "ANIMATE"


@pytest.fixture
def store(tmp_path) -> Store:
    """A store that knows two studies of TRIAL, as ``workbench deid`` records them."""
    s = Store(tmp_path / "state.sqlite")
    s.set_studies(TRIAL, [(f"1.2.3.{n}", f"2.25.{n}", f"SITE01-000{n}", "done", 26, 0, "", "h")
                          for n in (1, 2)])
    return s


def test_sign_off_is_read_back_and_audited(store, tmp_path):
    row = store.sign_off(TRIAL, "2.25.1", "J. Reviewer", "approved", "contact sheet clean")
    assert row["study_uid"] == "1.2.3.1"  # the de-identified UID resolves to the store's key
    assert row["subject_id"] == "SITE01-0001"
    store.close()
    reopened = Store(tmp_path / "state.sqlite")
    [back] = reopened.sign_offs(TRIAL)
    assert (back["study_uid"], back["reviewer"], back["verdict"], back["note"]) == \
        ("1.2.3.1", "J. Reviewer", "approved", "contact sheet clean")
    [event] = [e for e in reopened.audit_log(TRIAL) if e["event"] == "sign-off"]
    assert json.loads(event["detail"]) == {"study_uid": "1.2.3.1", "subject_id": "SITE01-0001",
                                           "reviewer": "J. Reviewer", "verdict": "approved",
                                           "note": "contact sheet clean",
                                           "outputs_digest": ""}  # this store has no outputs


def test_later_sign_off_supersedes_without_erasing(store):
    store.sign_off(TRIAL, "1.2.3.1", "A", "rejected", "name visible on slice 3")
    store.sign_off(TRIAL, "1.2.3.2", "A", "approved")
    store.sign_off(TRIAL, "1.2.3.1", "B", "approved", "re-done after pixel clean-up")
    assert [r["verdict"] for r in store.sign_offs(TRIAL, "2.25.1")] == ["rejected", "approved"]
    latest = {r["study_uid"]: (r["reviewer"], r["verdict"])
              for r in store.sign_offs(TRIAL, latest=True)}
    assert latest == {"1.2.3.1": ("B", "approved"), "1.2.3.2": ("A", "approved")}
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE sign_offs SET verdict='approved'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM sign_offs")


@pytest.mark.parametrize(("study", "reviewer", "verdict", "message"), [
    ("1.2.3.1", "A", "fine", "not one of approved, rejected"),
    ("1.2.3.1", "  ", "approved", "needs the reviewer's name"),
    ("9.9.9", "A", "approved", "holds no study 9.9.9"),
])
def test_bad_sign_off_is_refused_and_not_recorded(store, study, reviewer, verdict, message):
    with pytest.raises(StoreError, match=message):
        store.sign_off(TRIAL, study, reviewer, verdict)
    assert store.sign_offs(TRIAL) == []
    assert not [e for e in store.audit_log(TRIAL) if e["event"] == "sign-off"]


def test_sign_offs_are_per_trial(store):
    store.sign_off(TRIAL, "1.2.3.1", "A", "approved")
    with pytest.raises(StoreError, match="holds no study"):
        store.sign_off("OTHER", "1.2.3.1", "A", "approved")
    assert store.sign_offs("OTHER") == []

"""The local state database: secrets, linkage, audit, and where it may live."""

from __future__ import annotations

import io
import sqlite3

import pytest

from workbench.cli import main
from workbench.errors import StoreError
from workbench.deid.run import deidentify_delivery
from workbench.store import Store


def test_secret_created_once_per_trial_and_random(tmp_path):
    a, b = Store(tmp_path / "a.sqlite"), Store(tmp_path / "b.sqlite")
    assert a.trial_secret("T1") == a.trial_secret("T1")
    assert a.trial_secret("T1") != a.trial_secret("T2")
    assert a.trial_secret("T1") != b.trial_secret("T1")  # never a built-in constant
    assert len(a.trial_secret("T1")) == 32
    with pytest.raises(StoreError, match="no secret"):
        b.trial_secret("unknown", create=False)


def test_audit_log_is_append_only(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    s.audit("T", "event", {"n": 1})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        s.db.execute("UPDATE audit SET event='x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        s.db.execute("DELETE FROM audit")
    assert [r["event"] for r in s.audit_log("T")] == ["event"]


def test_store_refused_inside_an_output(tmp_path):
    (tmp_path / "src").mkdir()
    s = Store(tmp_path / "out" / "state.sqlite")
    with pytest.raises(StoreError, match="outside any output"):
        deidentify_delivery(tmp_path / "src", tmp_path / "out", "ps315-basic", store=s,
                            progress=False)


def test_keys_export(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    s = Store(db)
    s.add_pseudonyms("T", "PatientID", "lookup", [("MRN1", "MRN1", "Doe^Jane", "SITE01-0001")])
    s.add_date_offsets("T", {"MRN1": -400})
    buf = io.StringIO()
    assert s.export_keys(buf, "T") == 1
    assert "MRN1" in buf.getvalue() and "-400" in buf.getvalue()
    s.close()
    assert main(["keys", "export", "--store", str(db), "-o", str(tmp_path / "k.csv")]) == 0
    assert "SITE01-0001" in (tmp_path / "k.csv").read_text()


def test_a_store_answers_from_another_thread(tmp_path):
    """A notebook app's button callbacks run on the kernel's other threads."""
    from concurrent.futures import ThreadPoolExecutor

    store = Store(tmp_path / "state.sqlite")
    store.audit("T1", "made", {})
    with ThreadPoolExecutor(1) as other:
        events = other.submit(lambda: [e["event"] for e in store.audit_log("T1")]).result()
    assert events == ["made"]

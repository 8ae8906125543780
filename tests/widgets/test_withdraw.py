"""Withdrawn series: unticked after de-identification, moved beside OUT and never pushed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import Output, expected_holdings, holdings
from workbench.approval import APPROVED, WAITING, sign, study_states
from workbench.catalog import scan
from workbench.deid.run import deidentify_delivery
from workbench.errors import WorkbenchError
from workbench.examples import generate
from workbench.profile import load_profile
from workbench.push import push_studies
from workbench.push.local import find_studies
from workbench.store import Store
from workbench.widgets import StudyBrowser
from workbench.withdraw import withdrawn_folder, withdrawn_series


PROFILE = "uk-pet-core-lab"


def test_an_unticked_series_is_withdrawn_and_never_pushed(tmp_path: Path, xnat_server):
    planted = generate(tmp_path / "example", patients=2, seed=1, ct_slices=4, ct_size=64)
    out, store_path = tmp_path / "out", tmp_path / "state.sqlite"
    store, profile = Store(store_path), load_profile(PROFILE)
    trial = profile.trial_key
    instances, _ = scan(planted.delivery)
    browser = StudyBrowser(instances, profile)

    def deidentify() -> None:
        chosen = set(browser.selected)
        deidentify_delivery(planted.delivery, out, profile, store=store, resume=True,
                            lookup=str(planted.subjects_csv), progress=False,
                            headers=[i for i in instances if i.series_uid in chosen])

    deidentify()
    sign(store, trial, out, [], APPROVED, "R", every=True)
    assert {s.state for s in study_states(store, trial, out)} == {APPROVED}
    assert browser.withdrawn_preview(out, store).empty
    browser.withdraw(out, store)  # nothing to withdraw: no confirmation needed

    catalog = browser.catalog
    pid = planted.patients[0]["patient_id"]
    ct = catalog[(catalog["patient_id"] == pid) & (catalog["modality"] == "CT")].iloc[0]
    browser.checkboxes[ct.series_uid].value = False  # unticked after the run

    table = browser.withdrawn_preview(out, store)
    assert list(table["source_series_uid"]) == [ct.series_uid]
    assert list(table["modality"]) == ["CT"] and list(table["files"]) == [4]
    folder = table["folder"].iloc[0]
    before = sorted((out / folder).iterdir())
    assert len(before) == 4
    with pytest.raises(WorkbenchError, match="1 series will be withdrawn"):
        browser.withdraw(out, store)  # not without a confirmation
    assert sorted((out / folder).iterdir()) == before

    moved = browser.withdraw(out, store, confirm=True)
    target = withdrawn_folder(out)
    assert target == out.parent / "out.withdrawn"
    assert sorted(Path(p) for p in moved) == [target / folder / p.name for p in before]
    assert all(Path(p).is_file() for p in moved)
    assert not (out / folder).exists()
    verified = store.verified_outputs(trial)
    assert not {str(p) for p in before} & set(verified)
    assert not any(Path(p).is_relative_to(target) for p in verified)
    events = [json.loads(e["detail"]) for e in store.audit_log(trial) if e["event"] == "withdrawn"]
    assert [(e["series"], e["files"]) for e in events] == [(folder, 4)]
    record = (target / "withdrawn.jsonl").read_text().splitlines()
    assert len(record) == 4 and all(json.loads(line)["series"] == folder for line in record)

    # the study's outputs changed: its approval no longer matches
    states = {s.folder: s for s in study_states(store, trial, out)}
    study = "/".join(folder.split("/")[:2])
    assert states[study].state == WAITING and "changed" in states[study].reason
    assert {s.state for f, s in states.items() if f != study} == {APPROVED}
    held = {s.name: s.held for s in find_studies(out.resolve(), store, profile)}
    assert held[study] and not any(h for f, h in held.items() if f != study)
    assert browser.withdrawn_preview(out, store).empty

    deidentify()  # the selection as it is now: the series does not come back
    assert not (out / folder).exists()
    assert withdrawn_series(store, profile, out, browser.selected) == []

    sign(store, trial, out, [], APPROVED, "R", every=True)
    result = push_studies(out, PROFILE, store=store, url=xnat_server.url, progress=False,
                          retry_wait=0.0, receipts=tmp_path / "receipts")
    assert result.exit_code == 0
    on_server = holdings(xnat_server)
    assert on_server == expected_holdings(Output(out, store_path))
    session = next(label for label in on_server if label.startswith(folder.split("/")[0]))
    assert str(ct.series_number) not in on_server[session]
    assert len(on_server[session]) >= 1  # the other series of the study went


def test_withdrawal_leaves_other_deliveries_alone(tmp_path: Path):
    planted = generate(tmp_path / "example", patients=1, seed=2, ct_slices=2, ct_size=32)
    out, store = tmp_path / "out", Store(tmp_path / "state.sqlite")
    profile = load_profile(PROFILE)
    deidentify_delivery(planted.delivery, out, profile, store=store,
                        lookup=str(planted.subjects_csv), progress=False)
    instances, _ = scan(planted.delivery)
    assert withdrawn_series(store, profile, out, [], among=["1.2.3.4"]) == []  # not its series
    everything = withdrawn_series(store, profile, out, [])
    assert everything and not withdrawn_series(store, profile, out, instances)

"""CurationApp: from a folder to a confirmed push in three actions, refusing steps out of order."""

from __future__ import annotations

from pathlib import Path

from workbench.examples import generate
from workbench.store import Store
from workbench.widgets.curation import CurationApp

from .conftest import holdings

PROFILE = "uk-pet-core-lab"


def _app(tmp_path: Path, server, **options) -> tuple[CurationApp, list[dict]]:
    planted = generate(tmp_path / "example", patients=2, seed=5, ct_slices=3, ct_size=32)
    app = CurationApp(planted.delivery, profile=PROFILE, store=Store(tmp_path / "s.sqlite"),
                      out=tmp_path / "out", lookup=str(planted.subjects_csv),
                      destination=server.url, receipts=tmp_path / "receipts", retry_wait=0.0,
                      **options)
    return app, planted.patients


def test_three_actions_from_a_folder_to_a_confirmed_push(tmp_path, xnat_server):
    app, patients = _app(tmp_path, xnat_server, reviewer="Dr C. Urator")
    assert app.approve_button.disabled and app.push.push_button.disabled
    app.deid_button.click()  # 1
    assert "waiting for approval" in app.states.value and not app.approve_button.disabled
    assert app.push.push_button.disabled  # nothing is pushed before a person approves
    assert app.review.children  # the tag diff of a released file
    app.approve_button.click()  # 2
    assert "approved" in app.states.value and "Dr C. Urator" in app.states.value
    assert not app.push.push_button.disabled
    app.push.push_button.click()  # 3
    result = app.push.wait(120)
    assert result is not None and {o.status for o in result.outcomes} == {"uploaded"}
    assert len(holdings(xnat_server)) == 2
    shown = app.static_html()
    assert "Selected series" in shown and "approved" in shown
    for p in patients:  # the record names no patient
        assert p["patient_id"] not in shown
        assert all(part.lower() not in shown.lower()
                   for part in p["name"].replace("^", " ").split() if len(part) > 2)


def test_steps_out_of_order_are_refused_with_what_to_do(tmp_path, xnat_server):
    app, _ = _app(tmp_path, xnat_server)
    app.approve()
    assert "de-identify first" in app.next_step.value
    app.deid_button.click()
    app.approve()  # no reviewer named
    assert "name yourself in the reviewer field" in app.next_step.value
    assert "waiting for approval" in app.states.value and app.push.push_button.disabled


def test_unticking_a_series_after_a_run_withdraws_it_only_when_confirmed(tmp_path, xnat_server):
    app, _ = _app(tmp_path, xnat_server, reviewer="Dr C. Urator")
    app.deid_button.click()
    app.approve_button.click()
    ct = app.browser.catalog[app.browser.catalog["modality"] == "CT"].iloc[0]
    app.browser.select([ct["series_uid"]], False)
    app.deid_button.click()  # not confirmed: nothing moves, the app says what to do
    assert "unticked now" in app.next_step.value and "withdraw" in app.next_step.value
    assert not (tmp_path / "out.withdrawn").exists()
    app.withdraw_unticked.value = True
    app.deid_button.click()
    moved = [p for p in (tmp_path / "out.withdrawn").rglob("*.dcm")]
    assert moved and all(not (tmp_path / "out" / p.relative_to(tmp_path / "out.withdrawn"))
                         .exists() for p in moved)
    assert "waiting for approval" in app.states.value  # its study must be approved again

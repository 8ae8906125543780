"""CurationApp: from a folder to a confirmed push in three actions, refusing steps out of order."""

from __future__ import annotations

from pathlib import Path

from support import holdings
from workbench.examples import generate
from workbench.store import Store
from workbench.widgets.curation import CurationApp


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


def test_a_rejected_study_is_not_pushed_and_the_approved_one_is(tmp_path, xnat_server):
    app, _ = _app(tmp_path, xnat_server, reviewer="Dr C. Urator")
    app.deid_button.click()
    first, second = app.chosen.options
    app.chosen.value = [second]
    app.reject_button.click()  # no note: refused, nothing recorded
    assert "say why in the note field" in app.next_step.value
    app.approve_note.value = "the PET MIP shows a name"
    app.reject_button.click()
    app.chosen.value = [first]
    app.approve_note.value = ""
    app.approve_button.click()
    rows = {r["study"]: r for r in _states(app)}
    assert rows[second]["state"] == "rejected" and rows[first]["state"] == "approved"
    app.push.push_button.click()
    result = app.push.wait(120)
    assert result is not None and len(holdings(xnat_server)) == 1
    assert {o.status for o in result.outcomes} == {"uploaded", "held"}
    assert "1 uploaded, 0 already present, 0 not pushed, 1 held" in app.push.status.value
    assert "retry failed" not in app.push.status.value  # nothing to retry: it was rejected
    app.refresh()
    rows = {r["study"]: r for r in _states(app)}
    assert rows[first]["state"] == "pushed and confirmed" and rows[second]["state"] == "rejected"


def _states(app) -> list[dict]:
    from workbench.approval import states_table, study_states

    return states_table(study_states(app.store, app.profile.trial_key, app.out)).to_dict("records")


def test_a_study_that_fails_the_protocol_cannot_be_approved(tmp_path, xnat_server):
    protocol = tmp_path / "thin-slices.yaml"
    protocol.write_text("name: thin-slices\nseries:\n  CT:\n    modality: CT\n"
                        "    ranges:\n      SliceThickness: [0.5, 1.0]\n")
    app, _ = _app(tmp_path, xnat_server, reviewer="Dr C. Urator", protocol=protocol)
    app.deid_button.click()
    assert "check(s) failed" in app.findings.value and "SliceThickness" in app.findings.value
    assert all(r["state"] == "not approvable (protocol check failed)" for r in _states(app))
    app.approve()
    assert "cannot be signed off" in app.next_step.value and "SliceThickness" in app.next_step.value
    assert app.push.push_button.disabled
    assert not [s for s in app.store.sign_offs(app.profile.trial_key) if s["verdict"] == "approved"]


def test_lookup_problems_are_told_in_the_apps_words(tmp_path, xnat_server):
    app, patients = _app(tmp_path, xnat_server, reviewer="Dr C. Urator")
    app.lookup.value = ""
    app.deid_button.click()  # the profile takes subject IDs from a lookup table
    assert "Not de-identified" in app.next_step.value and "lookup field" in app.next_step.value
    assert "--" not in app.next_step.value and "Traceback" not in app.next_step.value
    assert not app.out.exists() or not list(app.out.rglob("*.dcm"))
    # a lookup that lacks one patient: that patient's files are held, with the Patient ID
    table = Path(app.source).parent / "subjects.csv"
    lines = table.read_text().splitlines()
    missing = patients[1]["patient_id"]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(l for l in lines if missing not in l) + "\n")
    app.lookup.value = str(short)
    app.deid_button.click()
    shown = app.review.children[0].value
    assert "quarantined" in shown and missing in shown and "press De-identify again" in shown
    assert "--resume" not in shown
    assert len(_states(app)) == 1  # the other patient's study waits for approval

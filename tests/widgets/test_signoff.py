"""SignOffForm: the reviewer's verdict lands in the store, a refusal is shown."""

from __future__ import annotations

import shutil

from workbench.store import Store
from workbench.widgets import SignOffForm


def test_form_records_and_refuses(curated, tmp_path):
    store_path = tmp_path / "state.sqlite"
    shutil.copyfile(curated.store_path, store_path)
    store = Store(store_path)
    trial = curated.profile.trial_key
    studies = [(s["subject_id"], s["new_study_uid"]) for s in store.studies(trial)]
    before = store.sign_offs(trial)
    form = SignOffForm(store, trial, studies)
    assert form.verdict.value is None  # nothing preselected: a person chooses
    form.reviewer.value = "R. Viewer"
    form.sign_button.click()  # no verdict yet
    assert "Not recorded" in form.signed.value and "verdict" in form.signed.value
    form.reviewer.value, form.verdict.value = "", "approved"
    form.sign_button.click()  # no reviewer
    assert "Not recorded" in form.signed.value
    assert store.sign_offs(trial) == before
    form.study.value = studies[-1][1]
    form.reviewer.value, form.verdict.value, form.note.value = "R. Viewer", "rejected", "text"
    form.sign_button.click()
    assert "Recorded" in form.signed.value and "R. Viewer" in form.signed.value
    row = store.sign_offs(trial)[-1]
    assert len(store.sign_offs(trial)) == len(before) + 1
    assert (row["subject_id"], row["verdict"], row["note"]) == (studies[-1][0], "rejected", "text")


def test_an_unattended_sign_off_covers_the_whole_sample_or_says_why_not(curated, tmp_path):
    from workbench.review import spot_check_sample
    from workbench.catalog import scan

    store_path = tmp_path / "state.sqlite"
    shutil.copyfile(curated.store_path, store_path)
    store = Store(store_path)
    trial = curated.profile.trial_key
    sample = spot_check_sample(scan(curated.out)[0], per_site=1, seed=0)
    form = SignOffForm.for_sample(store, trial, sample, reviewer="R. Viewer", note="sheets")
    before = store.sign_offs(trial)
    form.sign_all("approve")  # not a verdict: nothing recorded, the form says so
    assert "not one of approved, rejected" in form.signed.value
    assert store.sign_offs(trial) == before
    form.sign_all("rejected")
    signed = store.sign_offs(trial)[len(before):]
    assert len({s["study_uid"] for s in signed}) == len(signed) == len(sample)
    assert {(s["verdict"], s["reviewer"], s["note"]) for s in signed} == {
        ("rejected", "R. Viewer", "sheets")}

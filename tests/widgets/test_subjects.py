"""SubjectIDs: trial IDs typed per patient, checked as typed, saved, then de-identified with."""

from __future__ import annotations

import pytest

from workbench.catalog import scan
from workbench.deid.run import deidentify_delivery
from workbench.errors import ProfileError, StoreError
from workbench.examples import generate
from workbench.profile import load_profile
from workbench.store import Store
from workbench.widgets import SubjectIDs

SECRET = b"subject-ids-secret-0123456789abcdef"
PATTERN = "^ANIM-[0-9]{4}$"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    planted = generate(tmp_path_factory.mktemp("subjects"), patients=2, seed=1, ct_slices=4,
                       ct_size=64)
    instances = scan(planted.delivery)[0]
    return planted, instances, sorted({i.patient_id for i in instances})


@pytest.fixture
def profile(tmp_path):
    path = tmp_path / "manual-trial.yaml"
    path.write_text("name: manual-trial\nbase: uk-pet-core-lab\n"
                    f"subject_id: {{from: manual, key: PatientID, pattern: '{PATTERN}'}}\n")
    return load_profile(path)


def test_manual_is_a_subject_source_keyed_on_patient_or_accession(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nbase: uk-pet-core-lab\nsubject_id: {from: manual, key: MRN}\n")
    with pytest.raises(ProfileError, match="manual subject_id is keyed on"):
        load_profile(path)


def test_a_bad_id_shows_the_reason_as_it_is_typed(example, profile, tmp_path):
    _, instances, pids = example
    view = SubjectIDs(instances, profile, Store(tmp_path / "s.sqlite"))
    assert list(view.fields) == pids
    assert all("no ID yet" in c.value for c in view.checks.values())
    view.fields[pids[0]].value = "ANIM-12"
    shown = view.checks[pids[0]].value
    assert f"Patient ID {pids[0]}" in shown and "ANIM-12" in shown and "[0-9]{4}$" in shown
    view.fields[pids[0]].value = "ANIM-0001"
    assert ">ok<" in view.checks[pids[0]].value
    view.fields[pids[1]].value = "ANIM-0001"
    assert f"also given to Patient ID {pids[0]}" in view.checks[pids[1]].value
    assert f"also given to Patient ID {pids[1]}" in view.checks[pids[0]].value  # both rows
    view.fields[pids[1]].value = "ANIM-0002"
    assert list(view.table["check"]) == ["ok", "ok"]


def test_save_writes_manual_links_and_refuses_the_bad_ones(example, profile, tmp_path):
    _, instances, pids = example
    store = Store(tmp_path / "s.sqlite")
    view = SubjectIDs(instances, profile, store)
    view.fields[pids[0]].value = " ANIM-0001 "
    view.fields[pids[1]].value = "anim-2"
    view.save_button.click()
    assert store.subject_links("ANIMATE", "PatientID") == {pids[0]: ("ANIM-0001", "manual")}
    assert "Saved 1" in view.message.value and f"Patient ID {pids[1]}" in view.message.value
    view.fields[pids[0]].value = "ANIM-0003"  # a correction replaces a manual link
    view.fields[pids[1]].value = "ANIM-0002"
    view.save()
    assert store.pseudonyms("ANIMATE", "PatientID") == {pids[0]: "ANIM-0003",
                                                        pids[1]: "ANIM-0002"}
    again = SubjectIDs(instances, profile, store)
    assert again.fields[pids[1]].value == "ANIM-0002"


def test_links_a_lookup_made_are_not_replaced_by_hand(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add_pseudonyms("T", "PatientID", "lookup", [("P1", "P1", "A^B", "S-1")])
    with pytest.raises(StoreError, match="'P1' is already linked to 'S-1' \\(by lookup\\)"):
        store.set_manual_subjects("T", "PatientID", [("P1", "P1", "A^B", "S-2")])
    with pytest.raises(StoreError, match="'S-1' is already PatientID 'P1'"):
        store.set_manual_subjects("T", "PatientID", [("P2", "P2", "C^D", "S-1")])


def test_a_manual_profile_uses_the_saved_ids_and_holds_a_patient_without_one(
        example, profile, tmp_path):
    planted, instances, pids = example
    store = Store(tmp_path / "s.sqlite")
    view = SubjectIDs(instances, profile, store)
    view.fields[pids[0]].value = "ANIM-0001"
    view.save()
    report = deidentify_delivery(planted.delivery, tmp_path / "out", str(profile.path),
                                 store=store, secret=SECRET, site="SITE01", progress=False)
    held = [o for o in report.quarantined if o.kind != "needs pixel review"]
    assert held and {o.study_uid for o in held} == {
        i.study_uid for i in instances if i.patient_id == pids[1] and i.modality in ("CT", "PT")}
    assert f"PatientID {pids[1]!r}" in held[0].reason and "SubjectIDs" in held[0].reason
    assert (tmp_path / "out" / "ANIM-0001").is_dir()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.is_dir()] == ["ANIM-0001"]
    assert {s["subject_id"] for s in report.studies} >= {"ANIM-0001"}

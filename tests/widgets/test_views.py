"""TagDiffView, PhiScanView and ContactSheet driven through their controls."""

from __future__ import annotations

import numpy as np
import pytest

from support import Curated
from workbench.review import ACTION_COLOURS
from workbench.widgets import ContactSheet, PhiScanView, TagDiffView

from .conftest import decode


def test_tag_diff_view_filters_and_moves_between_instances(curated: Curated):
    pet = curated.series("PT", "PET")
    view = TagDiffView(list(pet["source"]), list(pet["output"]), curated.profile)
    patient = curated.planted.patients[0]
    assert patient["name"] in view.html.value and patient["subject_id"] in view.html.value
    assert ACTION_COLOURS["removed"] in view.html.value
    view.actions.value = ("removed",)
    assert set(view.table["action"]) == {"removed"}
    assert "PatientAddress" in set(view.table["path"])
    view.search.value = "otherpatient"
    assert set(view.table["path"]) == {
        "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence",
        "OtherPatientIDsSequence[0].PatientID", "OtherPatientIDsSequence[0].IssuerOfPatientID",
        "OtherPatientIDsSequence[0].TypeOfPatientID"}
    first = view.diff[view.diff["keyword"] == "SOPInstanceUID"]["after"].iloc[0]
    view.instance.value = 5
    assert view.diff[view.diff["keyword"] == "SOPInstanceUID"]["after"].iloc[0] != first
    assert set(view.table["action"]) == {"removed"}  # filters stay
    view.search.value = "no such attribute"
    assert view.table.empty and "No attribute matches" in view.html.value


def test_tag_diff_view_of_an_instance_without_output(curated: Curated):
    mr = curated.series("MR")
    view = TagDiffView(mr["source"].iloc[0], None)
    assert view.diff.empty and "has no output" in view.html.value
    assert view.instance.layout.display == "none"


def test_phi_scan_view_filters(curated: Curated):
    done = curated.pairs[curated.pairs["state"] == "written"]
    view = PhiScanView(done["source"], done["output"], max_rows=50)
    # paged, not cut: the reader is told which rows of how many are shown
    assert len(view.table) == len(view.scan)
    assert f"showing 1–50 of {len(view.scan)} distinct value(s)" in view.html.value
    surname = curated.planted.patients[1]["name"].split("^")[0]
    view.search.value = surname
    assert not view.table.empty and surname in view.html.value
    assert set(view.table["found"]) == {"only before"}
    view.found.value = "both"
    assert view.table.empty and "No value matches" in view.html.value
    view.search.value = ""
    assert (view.table["after"] > 0).all() and (view.table["before"] > 0).all()
    view.vr.value = ("DS",)
    assert set(view.table["VR"]) == {"DS"} and "PatientWeight" in set(view.table["attribute"])
    view.found.value = "all"
    view.search.value = "OtherPatientIDsSequence"
    assert "OtherPatientIDsSequence.PatientID" not in set(view.table["attribute"])  # VR LO
    view.vr.value = view.vr.options
    assert "OtherPatientIDsSequence.PatientID" in set(view.table["attribute"])
    view.indexed.value = True
    assert "OtherPatientIDsSequence[0].PatientID" in set(view.table["attribute"])


def test_phi_scan_view_of_sources_alone(curated: Curated):
    files = curated.series("CT")["source"]
    view = PhiScanView(files)
    assert view.found.layout.display == "none" and "files" in view.scan.columns
    view.search.value = curated.planted.patients[0]["patient_id"]
    assert "PatientID" in set(view.table["attribute"])


def test_contact_sheet_renders_thumbnails_lazily(curated: Curated):
    pet = curated.series("PT", "PET")
    series = {"PET": list(pet["output"]), "SR": list(
        curated.pairs[curated.pairs["modality"] == "SR"]["source"].iloc[:1])}
    sheet = ContactSheet(series, every=2, columns=3, rows=2, size=64)
    assert sheet.slices == list(range(0, 20, 2)) and sheet.page.max == 2
    assert sheet.rendered == 6 and len(sheet.grid.children) == 6
    thumb = sheet.grid.children[0].children[0]
    assert decode(thumb.value).size == (64, 64)
    assert "slice 0" in sheet.grid.children[0].children[1].value
    sheet.page.value = 2
    assert sheet.rendered == 10 and len(sheet.grid.children) == 4
    sheet.page.value = 1
    assert sheet.rendered == 10  # cached
    sheet.every.value = 5
    assert sheet.slices == [0, 5, 10, 15] and sheet.rendered == 12  # 0 and 10 were made
    pictures = [np.asarray(decode(t.children[0].value)) for t in sheet.grid.children]
    assert not np.array_equal(pictures[0], pictures[2])
    sheet.series.value = "SR"
    assert "structured report" in sheet.message.value and sheet.grid.children == ()


def test_contact_sheet_needs_a_series():
    with pytest.raises(ValueError, match="no series"):
        ContactSheet({})


def test_views_carry_the_css_classes_browser_tests_use(curated: Curated):
    from workbench.widgets import PushPanel, SliceViewer, StudyBrowser

    ct = curated.series("CT")
    browser = StudyBrowser(curated.instances, curated.profile)
    viewer = SliceViewer(list(ct["source"]), list(ct["output"]))
    panel = PushPanel(curated.out, curated.profile, curated.store_path, url="http://127.0.0.1:1")
    assert "wb-study-browser" in browser.widget._dom_classes
    assert all("wb-series-checkbox" in b._dom_classes for b in browser.checkboxes.values())
    assert "wb-slice-slider" in viewer.slider._dom_classes
    assert {"wb-push", "wb-pause", "wb-cancel", "wb-retry"} == {
        c for b in (panel.push_button, panel.pause_button, panel.cancel_button,
                    panel.retry_button) for c in b._dom_classes}
    panel.close()


def test_contact_sheet_from_a_table_names_each_series_and_orders_its_slices(curated: Curated):
    released = curated.pairs[curated.pairs["state"].isin(["written", "unchanged"])]
    shuffled = released.sample(frac=1.0, random_state=3)
    sheet = ContactSheet.from_table(shuffled, every=2, size=32)
    assert len(sheet.series.options) == released["series_uid"].nunique()  # none lost
    pet = released[released["modality"] == "PT"]
    names = [n for n in sheet.series.options if n.startswith("PT ")]
    assert names == [f"PT {pet['series_description'].iloc[0]}",
                     f"PT {pet['series_description'].iloc[0]} (2)"]  # one per patient
    files = sheet._files[names[0]]
    rows = released.set_index("output").loc[files]
    assert rows["series_uid"].nunique() == 1 and len(files) == (
        released["series_uid"] == rows["series_uid"].iloc[0]).sum()
    assert list(rows["instance_number"]) == sorted(rows["instance_number"])

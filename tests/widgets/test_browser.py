"""StudyBrowser driven as a user would: filters, checkboxes, buttons, pages."""

from __future__ import annotations

import pytest

from support import Curated
from workbench.catalog import Instance
from workbench.errors import WorkbenchError
from workbench.widgets import StudyBrowser



def test_default_selection_is_what_the_profile_takes(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile, page_size=10)
    reviewed = {o.source for o in curated.report.quarantined if o.kind == "needs pixel review"}
    left_out = {s.path for s in curated.report.skipped} | reviewed
    taken = {i.series_uid for i in curated.instances if i.path not in left_out}
    assert reviewed and set(browser.selected) == taken
    unchecked = [box.description for uid, box in browser.checkboxes.items() if not box.value]
    assert unchecked and not any(d.startswith(("CT ", "PT ")) for d in unchecked
                                 if "screen capture" not in d)
    assert all(box.value == (uid in taken) for uid, box in browser.checkboxes.items())
    assert f"<b>{len(taken)}</b> of {len(browser.catalog)} series selected" in \
        browser.summary.value


def test_patient_name_and_date_are_shown_per_study(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile)
    headers = "".join(child.value for child in browser.studies.children
                      if hasattr(child, "value") and isinstance(child.value, str))
    for patient in curated.planted.patients:
        assert patient["name"] in headers  # non-ASCII names as written (Latin-1 site)
        for study in patient["studies"]:
            d = study["study_date"]
            assert f"{d[:4]}-{d[4:6]}-{d[6:8]}" in headers


def test_filters_select_buttons_and_checkboxes(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile)
    browser.modality.value = ("CT",)
    assert browser.checkboxes and all(b.description.startswith("CT")
                                      for b in browser.checkboxes.values())
    browser.select_none_button.click()
    assert not any(uid in browser.selected for uid in browser.checkboxes)
    modality = browser.catalog.set_index("series_uid")["modality"]
    assert "PT" in {modality[u] for u in browser.selected}  # not shown, still selected
    browser.modality.value = browser.modality.options
    browser.sop_class.value = ("Encapsulated PDF Storage",)
    assert [b.description.split()[0] for b in browser.checkboxes.values()] == ["DOC"] * 2
    assert all(b.disabled for b in browser.checkboxes.values())  # the profile leaves them out
    browser.select_all_button.click()
    assert not set(browser.checkboxes) & set(browser.selected)
    browser.sop_class.value = ("Secondary Capture Image Storage",)
    captures = set(browser.checkboxes)
    assert len(captures) == 2 and not captures & set(browser.selected)
    assert not any(b.disabled for b in browser.checkboxes.values())
    browser.select_all_button.click()
    assert captures <= set(browser.selected)
    browser.sop_class.value = browser.sop_class.options
    box = next(b for uid, b in browser.checkboxes.items() if uid in captures)
    assert box.value
    box.value = False
    assert len(captures & set(browser.selected)) == 1
    files = browser.selected_files()
    assert len(files) == browser.selection["files"].sum()
    browser.default_button.click()
    assert not captures & set(browser.selected)
    assert not next(b for uid, b in browser.checkboxes.items() if uid in captures).value


def test_pages_hold_a_few_studies(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile, page_size=1)
    assert browser.page.max == 4 and browser.prev_button.disabled
    first = dict(browser.checkboxes)
    browser.next_button.click()
    assert browser.page.value == 2 and not set(first) & set(browser.checkboxes)
    assert all(box.comm is None for box in first.values())  # the old page's widgets closed
    browser.page.value = 4
    assert browser.next_button.disabled
    browser.modality.value = ("MR",)
    assert browser.page.max == 2 and browser.page.value == 2


def test_large_catalog_builds_only_the_page():
    instances = [
        Instance(path=f"/d/{s}/{n}/{i}.dcm", size=1000, sop_class="1.2.840.10008.5.1.4.1.1.2",
                 sop_uid=f"1.2.{s}.{n}.{i}", study_uid=f"1.2.{s}", series_uid=f"1.2.{s}.{n}",
                 modality="CT" if n else "PT", patient_id=f"P{s}", patient_name=f"N^{s}",
                 accession="", study_date="20240101", study_description="", series_number=n,
                 series_description="", instance_number=i)
        for s in range(100) for n in range(5) for i in range(10)]
    browser = StudyBrowser(instances, page_size=10)
    assert len(browser.catalog) == 500
    assert len(browser.checkboxes) == 50
    assert len(browser.selected) == 500  # no profile: everything
    browser.modality.value = ("PT",)
    assert len(browser.checkboxes) == 10 and browser.page.max == 10


def _reason_of(browser: StudyBrowser, uid: str) -> str:
    """The reason text shown beside a series' checkbox on the current page ("" for none)."""
    for row in browser.studies.children:
        if hasattr(row, "children") and browser.checkboxes[uid] in row.children:
            return "".join(c.value for c in row.children if c is not browser.checkboxes[uid])
    return ""


def test_a_series_the_profile_leaves_out_shows_why_and_cannot_be_ticked(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile)
    catalog = browser.catalog.set_index("series_uid")
    pdf = next(u for u in browser.checkboxes if catalog.at[u, "modality"] == "DOC")
    box = browser.checkboxes[pdf]
    assert box.disabled and not box.value
    assert "not in the profile's selection" in _reason_of(browser, pdf)
    assert catalog.at[pdf, "reason"] in _reason_of(browser, pdf)
    with pytest.raises(WorkbenchError, match="select: rules leave out"):
        browser.select([pdf])
    assert pdf not in browser.selected
    browser.select([pdf], False)  # deselecting is always allowed


def test_a_screen_capture_starts_unticked_with_its_reason(curated: Curated):
    browser = StudyBrowser(curated.instances, curated.profile)
    catalog = browser.catalog.set_index("series_uid")
    capture = next(u for u in browser.checkboxes
                   if catalog.at[u, "description"].endswith("screen capture"))
    box = browser.checkboxes[capture]
    assert not box.value and not box.disabled
    assert catalog.at[capture, "reason"] == "" and catalog.at[capture, "review"]
    assert "needs pixel review" in _reason_of(browser, capture)
    box.value = True  # ticked deliberately: it goes to the quarantine for review
    assert capture in browser.selected
    browser.modality.value = ("CT",)  # the page is built again
    browser.modality.value = browser.modality.options
    assert browser.checkboxes[capture].value
    assert "needs pixel review" in _reason_of(browser, capture)  # the reason stays
    ct = next(u for u in browser.checkboxes if catalog.at[u, "modality"] == "CT")
    assert _reason_of(browser, ct) == "" and browser.checkboxes[ct].value

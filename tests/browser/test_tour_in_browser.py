"""The tour in JupyterLab, in a real browser: run all cells, then use the widgets.

JupyterLab runs headless on a loopback port with a token; Debian's Chromium opens the
tour through playwright. After "Run All Cells" the test ticks a series off in the study
browser, moves the CT slice slider, and pushes again from the push panel (paused first,
then resumed), reading back what each widget shows. Screenshots of every step go to
test-output/browser/.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .conftest import REPO
from .lab import BROWSER_TEST, KERNEL_MS, chromium, jupyter_lab, run_all

pytestmark = BROWSER_TEST

TOUR = "00_tour.ipynb"
WIDGET_MS = 60_000
SELECTED = re.compile(r"(\d+) of (\d+) series selected")


def _cell(page, source_start: str):
    """The code cell whose source starts with ``source_start``."""
    return page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=source_start)).first


def _selected(browser_cell) -> int:
    text = browser_cell.locator(".widget-html", has_text="series selected").inner_text()
    return int(SELECTED.search(text)[1])


def _wait_selected(page, browser_cell, count: int) -> None:
    summary = browser_cell.locator(".widget-html", has_text="series selected")
    summary.filter(has_text=re.compile(rf"\b{count} of \d+ series selected")).wait_for(
        timeout=WIDGET_MS)


def test_tour_runs_and_its_widgets_answer_in_chromium(tmp_path, screenshots: Path):
    root, home = tmp_path / "lab", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    shutil.copy(REPO / "notebooks" / TOUR, root / TOUR)
    with jupyter_lab(root, home, screenshots / "jupyterlab.log") as lab, \
            chromium(tmp_path / "chromium-profile", height=1800) as page:
        page.goto(lab.url(f"lab/tree/{TOUR}"))
        page.locator(".jp-Notebook").wait_for(timeout=KERNEL_MS)
        page.keyboard.press("Control+b")  # hide the file browser: wider screenshots
        run_all(page)
        page.screenshot(path=screenshots / "01_tour_ran.png")

        # The study browser: patient names and dates shown; untick one series, then none,
        # then back to the profile's selection. The summary comes from the kernel.
        browser_cell = _cell(page, "browser = StudyBrowser")
        browser_cell.scroll_into_view_if_needed()
        assert browser_cell.locator(".widget-html", has_text="ID ").count() >= 3  # study heads
        default = _selected(browser_cell)
        assert default > 0
        ticked = browser_cell.locator(".wb-series-checkbox input:checked").first
        ticked.click()
        _wait_selected(page, browser_cell, default - 1)
        browser_cell.screenshot(path=screenshots / "02_study_browser_one_unticked.png")
        browser_cell.get_by_role("button", name="deselect shown").click()
        _wait_selected(page, browser_cell, 0)
        browser_cell.get_by_role("button", name="profile's selection").click()
        _wait_selected(page, browser_cell, default)

        # The slice slider of the CT viewer: a new slice means new pictures from the kernel.
        viewer = _cell(page, "ct_viewer = SliceViewer")
        viewer.scroll_into_view_if_needed()
        pictures = viewer.locator(".jp-OutputArea-output img")
        pictures.first.wait_for(timeout=WIDGET_MS)
        assert pictures.count() == 2  # before and after
        first = [pictures.nth(i).get_attribute("src") for i in range(2)]
        handle = viewer.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")
        viewer.locator(".widget-readout", has_text=re.compile(r"^\s*5\s*$")).wait_for(
            timeout=WIDGET_MS)
        page.wait_for_function(
            "([imgs, old]) => imgs.some((img, i) => img.src !== old[i])",
            arg=[pictures.element_handles(), first], timeout=WIDGET_MS)
        viewer.screenshot(path=screenshots / "03_ct_slice_5_before_after.png")

        # The push panel: pause, push (it holds), resume, and it finds every study there.
        panel = _cell(page, "panel = PushPanel")
        panel.scroll_into_view_if_needed()
        panel.get_by_role("button", name="pause").click()
        panel.get_by_text("Paused: the push holds").wait_for(timeout=WIDGET_MS)
        panel.locator("button", has_text=re.compile(r"^\s*push\s*$")).click()
        panel.get_by_text("Pushing 3 studies").wait_for(timeout=WIDGET_MS)
        panel.screenshot(path=screenshots / "04_push_panel_paused.png")
        panel.get_by_role("button", name="resume").click()
        done = panel.get_by_text(re.compile(r"Done: 0 uploaded, 3 already present, 0 not pushed"))
        done.wait_for(timeout=WIDGET_MS)
        assert panel.locator("td", has_text="already present").count() == 3
        panel.screenshot(path=screenshots / "05_push_panel_already_present.png")

        # The PHI scan, showing values found before and after: a patient's surname is not.
        planted = json.loads((home / "workbench-tour" / "example" / "planted.json").read_text())
        surname = planted["patients"][0]["name"].split("^")[0]
        phi = _cell(page, "phi = PhiScanView")
        phi.scroll_into_view_if_needed()
        search = phi.get_by_placeholder("attribute, keyword or value")
        search.fill(surname)
        search.press("Enter")
        phi.get_by_text("No value matches the filters.").wait_for(timeout=WIDGET_MS)
        phi.locator("select").first.select_option("all")
        phi.locator("td", has_text="only before").first.wait_for(timeout=WIDGET_MS)
        assert phi.locator("td", has_text="both").count() == 0
        phi.screenshot(path=screenshots / "07_phi_scan_surname_only_before.png")

        for name, start in [("06_tag_diff.png", "ct = released"),
                            ("08_contact_sheet.png", "ContactSheet.from_table("),
                            ("09_screen_capture_quarantined.png", "SliceViewer(list(")]:
            cell = _cell(page, start)
            cell.scroll_into_view_if_needed()
            cell.screenshot(path=screenshots / name)
    assert len(list(screenshots.glob("0[1-9]_*.png"))) == 9

"""What a reader sees in the views: pages, triage, static HTML, sharp small images, captions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from support import Curated
from workbench.errors import Unviewable
from workbench.review import PHI_GROUPS
from workbench.widgets import ContactSheet, PhiScanView, SliceViewer, TagDiffView
from workbench.widgets.images import OUTLINE, Frame, SeriesFrames, picture

from .conftest import ct_file, decode


def written(curated: Curated):
    return curated.pairs[curated.pairs["state"] == "written"]


def static(view) -> str:
    """What an executed notebook without a kernel shows: the bundle's text/html."""
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data  # the live widget stays
    assert data["text/html"] == view._repr_html_()
    return data["text/html"]


# --- tag diff ----------------------------------------------------------------------------

def test_tag_diff_view_pages_with_next_and_previous(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    view = TagDiffView(pet["source"], pet["output"], curated.profile, page_size=50)
    total = len(view.table)
    assert view.page.value == 1 and view.page.max == -(-total // 50) > 1
    assert view.prev_button.disabled and not view.next_button.disabled
    assert f"showing 1–50 of {total} attribute(s)" in view.html.value
    view.next_button.click()
    assert view.page.value == 2 and f"showing 51–100 of {total}" in view.html.value
    assert not view.prev_button.disabled
    view.prev_button.click()
    assert view.page.value == 1
    view.page.value = view.page.max
    assert view.next_button.disabled
    view.search.value = "PatientName"  # a new filter starts again at page 1
    assert view.page.value == 1 and view.page.max == 1
    assert "wb-next-page" in view.next_button._dom_classes


def test_tag_diff_view_reads_without_a_kernel(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    view = TagDiffView(pet["source"], pet["output"], curated.profile)
    html = static(view)
    assert "VBox(" not in html and "<table" in html and "table-layout:fixed" in html
    assert curated.planted.patients[0]["name"] in html
    assert re.search(r"<th>tag</th><th>keyword</th><th>before</th><th>after</th>"
                     r"<th>action</th><th>rule</th>", html)
    assert not re.search(r"\bnan\b|>None<", html, re.IGNORECASE)
    assert "<details" in html


def test_tag_diff_view_opens_sequences_when_filtered(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    view = TagDiffView(pet["source"], pet["output"], curated.profile)
    assert '<details class="wb-group" open>' not in view.html.value
    view.search.value = "otherpatient"
    assert '<details class="wb-group" open>' in view.html.value  # what was searched shows


# --- PHI scan ----------------------------------------------------------------------------

def test_phi_scan_view_is_triaged_and_paged(curated: Curated):
    done = written(curated)
    view = PhiScanView(done["source"], done["output"], max_rows=100)
    rank = view.table["group"].map({g: n for n, g in enumerate(PHI_GROUPS)})
    assert rank.is_monotonic_increasing
    assert view.table["group"].iloc[0] == "matches a source identifier"
    assert view.table["group"].iloc[-1] in ("image geometry", "other numbers")
    total = len(view.table)
    assert f"showing 1–100 of {total} distinct value(s)" in view.html.value
    assert "matches a source identifier: " in view.html.value  # counts per group
    view.next_button.click()
    assert f"showing 101–200 of {total}" in view.html.value
    view.page.value = view.page.max
    assert "<details class=\"wb-group\"><summary><b>" in view.html.value  # numbers: closed
    view.search.value = "Rows"
    assert view.page.value == 1
    assert '<details class="wb-group" open><summary><b>image geometry' in view.html.value
    untriaged = PhiScanView(done["source"].iloc[:2], triage=False)
    assert "group" not in untriaged.scan.columns
    assert list(untriaged.table["attribute"]) == sorted(untriaged.table["attribute"])


def test_phi_scan_view_reads_without_a_kernel(curated: Curated):
    done = written(curated)
    html = static(PhiScanView(done["source"], done["output"]))
    assert "VBox(" not in html and "<table" in html and "showing 1–200 of" in html
    assert not re.search(r"\bnan\b", html, re.IGNORECASE)


# --- slice viewer ------------------------------------------------------------------------

def test_small_images_are_enlarged_with_nearest_neighbour(tmp_path: Path):
    pixels = np.zeros((16, 16), dtype=np.int16)
    pixels[::2, ::2] = pixels[1::2, 1::2] = 1000  # a checkerboard of single pixels
    path = ct_file(tmp_path / "small.dcm", pixels)
    viewer = SliceViewer([path], preset="auto (1-99 %)", size=256)
    image = np.asarray(decode(viewer.before_image.value))[:, :, 0]
    assert image.shape == (256, 256)
    assert set(np.unique(image)) == {0, 255}  # no blur: only the two grey levels
    blocks = image.reshape(16, 16, 16, 16)
    assert (blocks == blocks[:, :1, :, :1]).all()  # each pixel a sharp 16 x 16 square
    assert image[0, 0] == 255 and image[0, 16] == 0


def test_outlines_follow_the_enlarged_picture(tmp_path: Path):
    pixels = np.zeros((16, 16), dtype=np.int16)
    cleaned = pixels.copy()
    cleaned[2:4, 8:12] = 500
    viewer = SliceViewer([ct_file(tmp_path / "a.dcm", pixels)],
                         [ct_file(tmp_path / "b.dcm", cleaned)], size=160)
    assert viewer.regions == [(2, 8, 4, 12)]
    red = np.all(np.asarray(decode(viewer.after_image.value)) == OUTLINE, axis=2)
    assert red[19, 79:121].all() and red[19:41, 79].all()  # the box x10, not 10 px wide


def test_captions_give_window_numbers_position_and_matrix(curated: Curated, tmp_path: Path):
    ct = curated.series("CT")
    viewer = SliceViewer.from_pairs(curated.pairs, ct["series_uid"].iloc[0])
    caption = viewer.before_caption.value
    assert "level 40, width 400" in caption and "HU" in caption
    assert "slice 1 of 6" in caption and "instance 1" in caption
    assert re.search(r"position -?\d+\.\d\d mm", caption)
    assert "matrix 64 × 64" in caption
    viewer.slider.value = 2
    assert "slice 3 of 6" in viewer.after_caption.value
    viewer.preset.value = "auto (1-99 %)"
    assert re.search(r"auto \(1-99 %\): level -?[\d.]+, width [\d.]+", viewer.before_caption.value)
    wide = SliceViewer([ct_file(tmp_path / "w.dcm", np.zeros((16, 32)))])
    assert "matrix 16 × 32" in wide.before_caption.value


def test_an_empty_frame_shows_a_message_picture(tmp_path: Path, monkeypatch):
    with pytest.raises(Unviewable, match="empty"):
        picture(Frame(np.zeros((0, 0), np.float32), ""))
    path = ct_file(tmp_path / "one.dcm", np.ones((16, 16)))
    monkeypatch.setattr(SeriesFrames, "frame",
                        lambda self, n: Frame(np.zeros((0, 16), np.float32), "HU"))
    viewer = SliceViewer([path], size=128)
    assert decode(viewer.before_image.value).size == (128, 128)  # never an empty image
    assert "cannot be drawn" in viewer.message.value and "empty" in viewer.message.value


def test_viewer_and_contact_sheet_read_without_a_kernel(curated: Curated):
    ct = curated.series("CT")
    html = static(SliceViewer(list(ct["source"]), list(ct["output"]), size=64))
    assert html.count('<img src="data:image/png;base64,') == 2 and "level 40" in html
    sheet = ContactSheet(list(ct["source"]), every=2, size=32)
    assert static(sheet).count("<img") == len(sheet.grid.children) == 3

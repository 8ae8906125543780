"""What a reader sees: the review tables rendered as HTML that fits the page, and the timeline."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from support import Curated
from workbench.review import (ACTION_COLOURS, PHI_COLLAPSED, PHI_GROUPS, SUV_INPUTS,
                              TAG_DIFF_COLUMNS, Rendered, change_summary, change_summary_html,
                              pet_check, pet_check_html, phi_scan, phi_scan_html, phi_triage,
                              short_uid, tag_diff, tag_diff_html, timeline, timeline_table)



def written(curated: Curated) -> pd.DataFrame:
    return curated.pairs[curated.pairs["state"] == "written"]


def no_nan(html: str) -> None:
    """Nothing a reader would see as "nan" / "None" in a cell."""
    assert not re.search(r">\s*(nan|NaN|None|NaT)\s*<", html), "a blank shown as nan/None"
    assert not re.search(r"\bnan\b", html, re.IGNORECASE)


def fits_the_page(html: str) -> None:
    """Every table is fixed-layout at 100 % of the page at most, cells wrap, no pixel widths."""
    assert html.startswith('<div class="wb-review" style="max-width:100%;')
    tables = re.findall(r"<table[^>]*>", html)
    assert tables
    for table in tables:
        assert "table-layout:fixed" in table and "max-width:100%" in table
        assert "word-break:break-word" in table and "overflow-wrap:anywhere" in table
        assert "white-space:normal" in table
    assert not re.search(r"width:\s*\d+px", html)  # no wide fixed table or column
    for group in re.findall(r"<colgroup>(.*?)</colgroup>", html):
        widths = [float(w) for w in re.findall(r"width:([\d.]+)%", group)]
        assert sum(widths) == pytest.approx(100, abs=0.5)


def headers(html: str) -> list[str]:
    first = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    return re.findall(r"<th>(.*?)</th>", first)


def body_rows(html: str) -> int:
    return len(re.findall(r"<tbody>", html)) and sum(
        part.count("<tr") for part in re.findall(r"<tbody>(.*?)</tbody>", html))


def big_pair(curated: Curated, tmp_path: Path, items: int = 300) -> tuple[str, str]:
    """The first PET pair with a long code sequence added to both files (> 900 attributes)."""
    pet = curated.series("PT", "PET").iloc[0]
    paths = []
    for name, path in (("src", pet["source"]), ("out", pet["output"])):
        ds = dcmread(path)
        seq = []
        for k in range(items):
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = f"C{k}", "99X"
            item.CodeMeaning = f"meaning {k}"
            seq.append(item)
        ds.add_new(0x00400260, "SQ", seq)  # PerformedProtocolCodeSequence
        target = tmp_path / f"{name}.dcm"
        ds.save_as(target)
        paths.append(str(target))
    return paths[0], paths[1]


# --- tag diff --------------------------------------------------------------------------

def test_tag_diff_key_columns_first_and_blanks_not_nan(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    diff = tag_diff(pet["source"], pet["output"], curated.profile)
    assert list(diff.columns)[:6] == ["tag", "keyword", "before", "after", "action", "rule"]
    assert not diff.isna().any().any()
    removed = diff[diff["action"] == "removed"]
    added = diff[diff["action"] == "added"]
    assert not removed.empty and (removed["after"] == "").all()
    assert not added.empty and (added["before"] == "").all()
    html = tag_diff_html(diff)
    no_nan(html)
    assert headers(html) == TAG_DIFF_COLUMNS
    assert re.fullmatch(r"\(\d{4},\d{4}\)", diff["tag"].iloc[0])
    assert ACTION_COLOURS["removed"] in html


def test_tag_diff_html_wraps_to_the_page(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    html = tag_diff_html(tag_diff(pet["source"], pet["output"], curated.profile))
    fits_the_page(html)
    assert isinstance(html, Rendered) and html._repr_html_() == str(html)


def test_tag_diff_groups_each_top_level_sequence(curated: Curated):
    pet = curated.series("PT", "PET").iloc[0]
    diff = tag_diff(pet["source"], pet["output"], curated.profile)
    html = tag_diff_html(diff, page_size=10_000)
    sequences = [p for p, vr in zip(diff["path"], diff["VR"]) if vr == "SQ" and "[" not in p]
    details = re.findall(r"<details[^>]*><summary>(.*?)</summary>(.*?)</details>", html)
    assert len(details) == len(sequences)
    summaries = {re.search(r"<b>(.*?)</b>", s).group(1): (s, body) for s, body in details}
    assert set(summaries) == set(sequences)
    summary, body = summaries["OtherPatientIDsSequence"]
    assert "removed" in summary and "inside: 3 removed" in summary
    assert "OtherPatientIDsSequence[0].PatientID" in body  # the items sit in their group
    outside = re.sub(r"<details.*?</details>", "", html)
    assert "OtherPatientIDsSequence[0]" not in outside
    assert "<details class=\"wb-group\">" in html  # collapsed unless asked
    assert "<details class=\"wb-group\" open>" in tag_diff_html(diff, open_groups=True)


def test_tag_diff_of_a_thousand_attributes_is_paged(curated: Curated, tmp_path: Path):
    src, out = big_pair(curated, tmp_path)
    diff = tag_diff(src, out, curated.profile)
    assert len(diff) > 1000
    first = tag_diff_html(diff)
    pages = -(-len(diff) // 200)
    assert f"showing 1–200 of {len(diff)} attribute(s) (page 1 of {pages})" in first
    assert body_rows(first) == 200
    second = tag_diff_html(diff, page=2)
    assert f"showing 201–400 of {len(diff)}" in second and body_rows(second) == 200
    assert "(continued from the previous page)" in second  # the long sequence goes on
    last = tag_diff_html(diff, page=99)  # clamped to the last page
    assert body_rows(last) == len(diff) - 200 * (-(-len(diff) // 200) - 1)
    fits_the_page(second)
    no_nan(second)


# --- change summary ----------------------------------------------------------------------

def test_change_summary_per_study_is_collapsible(curated: Curated):
    summary = change_summary(curated.pairs, curated.profile, by="study", per_series=1,
                             progress=False)
    html = change_summary_html(summary)
    details = re.findall(r"<details[^>]*><summary>(.*?)</summary>", html)
    assert len(details) == summary["study_uid"].nunique() == 2
    for uid, line in zip(summary["study_uid"].unique(), details):
        rows = summary[summary["study_uid"] == uid]
        main = rows[["retained", "replaced", "emptied", "removed", "added"]].idxmax(axis=1)
        assert f"{(main == 'removed').sum()} removed" in line
        assert f"{(main == 'replaced').sum()} replaced" in line
        assert f"{(main == 'retained').sum()} kept" in line
        assert f"{rows['attribute'].nunique()} attribute(s)" in line
    assert "<details class=\"wb-group\"><summary>" in html  # closed: one line per study
    fits_the_page(html)
    no_nan(html)
    labelled = change_summary_html(summary, {summary["study_uid"].iloc[0]: "SITE01-0001 PET-CT"})
    assert "<b>SITE01-0001 PET-CT</b>" in labelled
    delivery = change_summary_html(change_summary(curated.pairs, curated.profile,
                                                  per_series=1, progress=False))
    assert re.findall(r"<summary><b>(.*?)</b>", delivery) == ["the delivery"]


# --- PET ---------------------------------------------------------------------------------

def test_pet_check_suv_inputs_first_uids_last_and_short(curated: Curated):
    check = pet_check(curated.pairs)
    assert list(check.columns) == ["series", *SUV_INPUTS, "suv_before", "suv_after",
                                   "suv_same", "problem", "study_uid", "series_uid"]
    assert list(SUV_INPUTS) == ["weight_kg", "total_dose_bq", "injection_time", "half_life_s",
                                "series_time", "units", "decay_correction"]
    html = pet_check_html(check)
    assert headers(html) == ["series", "patient weight (kg)", "injected dose (Bq)",
                             "radiopharmaceutical start", "half life (s)", "series time",
                             "units", "decay correction", "SUVbw factor", "problem", "study",
                             "series UID"]
    uid = check["series_uid"].iloc[0]
    assert f'title="{uid}"' in html and f">{uid}<" not in html
    assert short_uid(uid).endswith(f"{uid[:8]}&hellip;{uid[-6:]}</span>")
    for patient in curated.planted.patients:  # the values, not only whether they survived
        assert f"<small>{float(patient['weight_kg']):.6g}</small>" in html
    fits_the_page(html)
    no_nan(html)


# --- PHI scan ----------------------------------------------------------------------------

def test_phi_scan_is_triaged_identifiers_first_numbers_last(curated: Curated):
    done = written(curated)
    table = phi_triage(phi_scan(done["source"], done["output"], progress=False))
    rank = table["group"].map({g: n for n, g in enumerate(PHI_GROUPS)})
    assert rank.is_monotonic_increasing
    first = table[table["group"] == "matches a source identifier"]
    names = {p["name"] for p in curated.planted.patients}
    assert names <= set(first["value"])  # PatientName and the private copies of it
    assert set(first["attribute"]) >= {"PatientName", "(2001,\"Philips Imaging DD 001\",9C)"}
    by_attribute = table.drop_duplicates("attribute").set_index("attribute")["group"]
    assert by_attribute["StudyTime"] == "times (TM)"
    assert by_attribute["Rows"] == by_attribute["PixelSpacing"] == "image geometry"
    assert by_attribute["ImagePositionPatient"] == "positions and orientation"
    assert by_attribute["StudyDescription"] in ("names, text and dates",
                                                "matches a source identifier")
    assert set(PHI_COLLAPSED) == {"times (TM)", "positions and orientation", "image geometry",
                                  "other numbers"}


def test_phi_scan_html_counts_groups_pages_and_collapses_numbers(curated: Curated):
    done = written(curated)
    table = phi_triage(phi_scan(done["source"], done["output"], progress=False))
    html = phi_scan_html(table, page_size=1000)
    counts = table["group"].value_counts()
    for group, n in counts.items():
        assert f"{group}: {n}" in html
    groups = re.findall(r"<details class=\"wb-group\"( open)?><summary><b>(.*?)</b>", html)
    assert [g for _, g in groups] == [g for g in PHI_GROUPS if g in counts]
    for is_open, group in groups:
        assert bool(is_open) == (group not in PHI_COLLAPSED)
    paged = phi_scan_html(table, page=2, page_size=100)
    assert f"showing 101–200 of {len(table)} distinct value(s)" in paged
    assert body_rows(paged) == 100
    fits_the_page(html)
    no_nan(html)


# --- timeline ----------------------------------------------------------------------------

def drawn(fig) -> dict[str, list[float]]:
    """Per line gid, the days between its consecutive dots."""
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            x = list(line.get_xdata())
            out[line.get_gid()] = [b - a for a, b in zip(x, x[1:])]
    return out


def test_timeline_keeps_intervals_of_the_curated_delivery(curated: Curated):
    table = timeline_table(curated.pairs)
    assert not table.empty and table["before"].notna().all() and table["after"].notna().all()
    assert (table["before"] != table["after"]).all()  # the dates were shifted
    fig = timeline(curated.pairs)
    lines = drawn(fig)
    subjects = set(table["subject"])
    assert {f"before:{s}" for s in subjects} | {f"after:{s}" for s in subjects} == set(lines)
    for s in subjects:
        assert lines[f"before:{s}"] == lines[f"after:{s}"]
    assert "intervals kept for every subject" in fig._suptitle.get_text()


def test_timeline_draws_equal_intervals_before_and_after_and_flags_a_change():
    before = pd.to_datetime(["2023-01-01", "2023-03-15", "2023-09-01", "2022-05-05",
                             "2022-06-06"])
    shift = pd.to_timedelta([-700, -700, -700, -90, -90], unit="D")
    table = pd.DataFrame({"subject": ["S1"] * 3 + ["S2"] * 2, "source_patient": "",
                          "study_uid": list("abcde"), "before": before,
                          "after": before + shift})
    fig = timeline(table)
    lines = drawn(fig)
    assert lines["before:S1"] == lines["after:S1"] == [73.0, 170.0]
    assert lines["before:S2"] == lines["after:S2"] == [32.0]
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == \
        ["S1", "S2"]
    assert "intervals kept" in fig._suptitle.get_text()
    table.loc[1, "after"] += pd.Timedelta(days=1)
    broken = timeline(table)
    assert drawn(broken)["after:S1"] == [74.0, 169.0]
    assert "intervals CHANGED for S1" in broken._suptitle.get_text()

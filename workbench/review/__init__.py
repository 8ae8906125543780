"""Review tables (pandas): what a profile does to every attribute, and why.

Every view of the review is a DataFrame a user can save: the catalog of studies and
series (:mod:`.tables`), the source/output pairs (:mod:`.pairs`), the tag diff of one
instance and the retained / removed / replaced / emptied summary over a series, study
or delivery (:mod:`.diff`), the PHI scan of every distinct value per attribute path
(:mod:`.phi`), and the PET check of the SUV inputs (:mod:`.pet`). The widgets in
:mod:`workbench.widgets` only display these tables.

The ``*_html`` functions render them for reading (:mod:`.render`): tables that wrap
to the page width, groups that fold, pages of 200 rows. :func:`timeline` draws each
subject's study dates before and after the date shift.
"""

from __future__ import annotations

from ..errors import ReviewError
from .diff import (MARKERS, SUMMARY_LEVELS, TAG_DIFF_COLUMNS, TAG_DIFF_WIDTHS, Element,
                   change_summary, change_summary_html, flatten, tag_diff, tag_diff_html)
from .dicom import BINARY_VRS, PIXEL_KEYWORDS, normalise, value_text
from .pairs import PAIR_COLUMNS, pair_outputs
from .pet import SUV_INPUTS, SUV_LABELS, pet_check, pet_check_html
from .phi import (IDENTITY_KEYWORDS, NUMBER_VRS, PHI_COLLAPSED, PHI_COLUMNS, PHI_GROUPS,
                  PHI_WIDTHS, RISKY_VRS, UNREADABLE, distinct_values, phi_scan, phi_scan_html,
                  phi_triage, source_identifiers)
from .render import (ACTION_COLOURS, ACTIONS, BLOCK_STYLE, CELL_CHARS, PAGE_SIZE, TABLE_CSS,
                     TABLE_STYLE, Rendered, html_table, page_bounds, short_uid, showing,
                     style_actions)
from .tables import catalog_table, plan_table, sop_class_name, spot_check_sample, study_table
from .timeline import TIMELINE_COLUMNS, timeline, timeline_table

__all__ = [
    "ACTIONS", "ACTION_COLOURS", "BINARY_VRS", "BLOCK_STYLE", "CELL_CHARS",
    "Element", "IDENTITY_KEYWORDS", "MARKERS", "NUMBER_VRS", "PAGE_SIZE", "PAIR_COLUMNS",
    "PHI_COLLAPSED", "PHI_COLUMNS", "PHI_GROUPS", "PHI_WIDTHS", "PIXEL_KEYWORDS",
    "RISKY_VRS", "Rendered", "ReviewError", "SUMMARY_LEVELS", "SUV_INPUTS", "SUV_LABELS",
    "TABLE_CSS", "TABLE_STYLE", "TAG_DIFF_COLUMNS", "TAG_DIFF_WIDTHS", "TIMELINE_COLUMNS",
    "UNREADABLE", "catalog_table", "change_summary", "change_summary_html",
    "distinct_values", "flatten", "html_table", "normalise", "page_bounds", "pair_outputs",
    "pet_check", "pet_check_html", "phi_scan", "phi_scan_html", "phi_triage", "plan_table",
    "showing", "short_uid", "sop_class_name", "source_identifiers", "spot_check_sample",
    "study_table", "style_actions", "tag_diff", "tag_diff_html", "timeline",
    "timeline_table", "value_text",
]

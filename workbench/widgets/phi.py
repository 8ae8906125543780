"""PhiScanView: every distinct value per attribute path, before and after, with counts."""

from __future__ import annotations

import os
from typing import Iterable

import ipywidgets as w
import pandas as pd

from ..review import PAGE_SIZE, distinct_values, phi_scan, phi_scan_html, phi_triage
from .base import View, classes, note, page_controls, set_pages

FOUND = ("all", "both", "only before", "only after")


class PhiScanView(View):
    """The PHI scan of a delivery, triaged, filtered by text, VR and where values were found.

    Values are shown in reading order (:func:`workbench.review.phi_triage`): those that
    contain one of the source's identifiers first, then names, free text, dates and ages,
    codes and UIDs; times, positions, image geometry and other numbers last, collapsed.
    Each group says how many values it holds; the rows are paged.

    Parameters
    ----------
    before
        Source files.
    after
        Output files; without them the view lists the source's values alone.
    max_rows
        Rows a page (the table keeps them all).
    triage
        Triage the rows (True by default); False keeps them by attribute.

    Attributes
    ----------
    search : ipywidgets.Text
        Show rows whose attribute, keyword or value contains this text (any case).
    vr : ipywidgets.SelectMultiple
        Value representations shown (all by default).
    found : ipywidgets.Dropdown
        ``all``, ``both`` (values the output still carries), ``only before`` or
        ``only after``; hidden without outputs.
    indexed : ipywidgets.Checkbox
        Keep sequence item indices in the paths (``Seq[0].Name``) instead of merging items.
    page : ipywidgets.BoundedIntText
        The page shown (from 1), moved by ``prev_button`` and ``next_button``.
    html : ipywidgets.HTML
        The rows of the page, per group, with ``showing 1–200 of N``.
    scan : DataFrame
        The whole scan (:func:`workbench.review.phi_scan` or ``distinct_values``), triaged
        (a ``group`` column) unless ``triage`` is False.
    table : DataFrame
        The rows that pass the filters, in reading order.
    """

    def __init__(self, before: Iterable[str | os.PathLike],
                 after: Iterable[str | os.PathLike] | None = None, *,
                 max_rows: int = PAGE_SIZE, triage: bool = True):
        self.before = list(before)
        self.after = None if after is None else list(after)
        self.max_rows = max_rows
        self.triage = triage
        self.prev_button, self.page, self.next_button = page_controls()
        self.search = w.Text(placeholder="attribute, keyword or value", description="search",
                             continuous_update=False)
        self.found = w.Dropdown(options=FOUND, value="all", description="found",
                                layout=w.Layout(display="none" if after is None else None))
        self.indexed = w.Checkbox(value=False, description="per item ([0], [1], ...)",
                                  indent=False)
        self.vr = w.SelectMultiple(description="VR", rows=5)
        self.html = w.HTML(layout=w.Layout(width="100%"))
        self.table = pd.DataFrame()
        self._scan()
        for control in (self.search, self.found, self.vr):
            control.observe(lambda _: self._show(), names="value")
        self.indexed.observe(lambda _: self._scan(), names="value")
        self.page.observe(lambda _: self._render(), names="value")
        self.widget = w.VBox([w.HBox([self.search, self.found, self.indexed]), self.vr,
                              w.HBox([self.prev_button, self.page, self.next_button]),
                              self.html], layout=w.Layout(width="100%"))
        classes({self.widget: "wb-phi-scan", self.prev_button: "wb-prev-page",
                 self.next_button: "wb-next-page"})

    def _scan(self) -> None:
        indexed = self.indexed.value
        if self.after is None:
            self.scan = distinct_values(self.before, indexed=indexed)
        else:
            self.scan = phi_scan(self.before, self.after, indexed=indexed)
        if self.triage:
            self.scan = phi_triage(self.scan)
        vrs = tuple(sorted(self.scan["VR"].unique()))
        chosen = tuple(v for v in self.vr.value if v in vrs) or vrs
        self.vr.options = vrs
        self.vr.value = chosen
        self._show()

    def _show(self) -> None:
        rows = self.scan[self.scan["VR"].isin(self.vr.value)]
        if self.after is not None and self.found.value != "all":
            rows = rows[rows["found"] == self.found.value]
        text = self.search.value.strip().casefold()
        if text:
            hay = (rows["attribute"] + "\n" + rows["keyword"] + "\n" + rows["value"])
            rows = rows[hay.str.casefold().str.contains(text, regex=False)]
        self.table = rows
        self._filtered = bool(text)
        if self.page.value != 1:
            self.page.value = 1  # the observer renders
        else:
            self._render()

    def _render(self) -> None:
        rows = self.table
        set_pages(self.page, self.prev_button, self.next_button,
                  -(-len(rows) // max(self.max_rows, 1)))
        if rows.empty:
            self.html.value = note("No value matches the filters.")
            return
        self.html.value = phi_scan_html(rows, page=self.page.value, page_size=self.max_rows,
                                        open_all=self._filtered)

    def static_html(self) -> str:
        """The page of the scan shown, with its counts per group."""
        return f'<div class="wb-phi-scan">{self.html.value}</div>'

"""PhiScanView: every distinct value per attribute path, before and after, with counts."""

from __future__ import annotations

import os
from typing import Iterable

import ipywidgets as w
import pandas as pd

from ..review import distinct_values, phi_scan
from .base import View, classes, note

FOUND = ("all", "both", "only before", "only after")


class PhiScanView(View):
    """The PHI scan of a delivery, filtered by text, VR and where values were found.

    Parameters
    ----------
    before
        Source files.
    after
        Output files; without them the view lists the source's values alone.
    max_rows
        Rows rendered at once (the table keeps them all).

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
    html : ipywidgets.HTML
        The rows shown.
    scan : DataFrame
        The whole scan (:func:`workbench.review.phi_scan` or ``distinct_values``).
    table : DataFrame
        The rows that pass the filters.
    """

    def __init__(self, before: Iterable[str | os.PathLike],
                 after: Iterable[str | os.PathLike] | None = None, *, max_rows: int = 200):
        self.before = list(before)
        self.after = None if after is None else list(after)
        self.max_rows = max_rows
        self.search = w.Text(placeholder="attribute, keyword or value", description="search",
                             continuous_update=False)
        self.found = w.Dropdown(options=FOUND, value="all", description="found",
                                layout=w.Layout(display="none" if after is None else None))
        self.indexed = w.Checkbox(value=False, description="per item ([0], [1], ...)",
                                  indent=False)
        self.vr = w.SelectMultiple(description="VR", rows=5)
        self.html = w.HTML()
        self.table = pd.DataFrame()
        self._scan()
        for control in (self.search, self.found, self.vr):
            control.observe(lambda _: self._show(), names="value")
        self.indexed.observe(lambda _: self._scan(), names="value")
        self.widget = w.VBox([w.HBox([self.search, self.found, self.indexed]), self.vr,
                              self.html])
        classes({self.widget: "wb-phi-scan"})

    def _scan(self) -> None:
        indexed = self.indexed.value
        if self.after is None:
            self.scan = distinct_values(self.before, indexed=indexed)
        else:
            self.scan = phi_scan(self.before, self.after, indexed=indexed)
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
        if rows.empty:
            self.html.value = note("No value matches the filters.")
            return
        shown = rows.head(self.max_rows)
        styler = shown.style.hide(axis="index")
        if "found" in shown.columns:
            styler = styler.map(lambda v: "background-color: #f8d7da" if v == "both" else "",
                                subset=["found"])
        more = (f"; showing the first {self.max_rows}: narrow the filters to see the rest"
                if len(rows) > self.max_rows else "")
        self.html.value = (f"<small>{len(rows)} distinct value(s) of "
                           f"{rows['attribute'].nunique()} attribute(s){more}</small>"
                           + styler.to_html())

"""TagDiffView: every attribute of an instance before and after, and the rule that decided it."""

from __future__ import annotations

import os
from typing import Sequence

import ipywidgets as w
import pandas as pd

from ..profile import Profile, load_profile
from ..errors import ReviewError
from ..review import ACTIONS, PAGE_SIZE, tag_diff, tag_diff_html
from .base import View, classes, note, page_controls, set_pages


class TagDiffView(View):
    """The tag diff of one instance, chosen among aligned source and output files.

    Parameters
    ----------
    before, after
        A source and its output file, or aligned lists of them (``None`` outputs are
        shown as such).
    profile
        The profile that made the outputs (fills the ``rule`` column).
    page_size
        Rows a page.

    Attributes
    ----------
    instance : ipywidgets.IntSlider
        Which pair of files is compared (hidden for a single pair).
    actions : ipywidgets.SelectMultiple
        Show only rows with these actions (all by default).
    search : ipywidgets.Text
        Show only rows whose path, keyword or values contain this text (any case).
    page : ipywidgets.BoundedIntText
        The page of rows shown (from 1), moved by ``prev_button`` and ``next_button``.
    html : ipywidgets.HTML
        The table, coloured by action: key columns first, wrapped to the page width,
        each top-level sequence collapsible (:func:`workbench.review.tag_diff_html`).
    diff : DataFrame
        The full tag diff of the current instance (:func:`workbench.review.tag_diff`).
    table : DataFrame
        The rows shown.
    """

    def __init__(self, before: str | os.PathLike | Sequence[str | os.PathLike],
                 after: str | os.PathLike | Sequence[str | os.PathLike | None],
                 profile: Profile | str | None = None, *, page_size: int = PAGE_SIZE):
        single = isinstance(before, (str, os.PathLike))
        self.before = [before] if single else list(before)
        self.after = [after] if single else list(after)
        if len(self.before) != len(self.after) or not self.before:
            raise ValueError("pass one source and one output, or aligned lists of equal length")
        self.profile = (load_profile(profile) if isinstance(profile, (str, os.PathLike))
                        else profile)
        self.instance = w.IntSlider(0, 0, len(self.before) - 1, description="instance",
                                    continuous_update=False,
                                    layout=w.Layout(display="none" if single else None))
        self.actions = w.SelectMultiple(options=ACTIONS, value=ACTIONS, description="actions",
                                        rows=len(ACTIONS))
        self.search = w.Text(placeholder="path, keyword or value", description="search",
                             continuous_update=False)
        self.page_size = page_size
        self.prev_button, self.page, self.next_button = page_controls()
        self.files = w.HTML()
        self.html = w.HTML(layout=w.Layout(width="100%"))
        self.diff = pd.DataFrame()
        self.table = pd.DataFrame()
        self.instance.observe(lambda _: self._load(), names="value")
        self.actions.observe(lambda _: self._show(), names="value")
        self.search.observe(lambda _: self._show(), names="value")
        self.page.observe(lambda _: self._render(), names="value")
        self.widget = w.VBox([w.HBox([self.instance, self.actions, self.search]), self.files,
                              w.HBox([self.prev_button, self.page, self.next_button]),
                              self.html], layout=w.Layout(width="100%"))
        classes({self.widget: "wb-tag-diff", self.prev_button: "wb-prev-page",
                 self.next_button: "wb-next-page"})
        self._load()

    def _load(self) -> None:
        n = self.instance.value
        src, out = self.before[n], self.after[n]
        self.files.value = (f"<small>{os.path.basename(str(src))} &rarr; "
                            f"{os.path.basename(str(out)) if out else '(no output)'}</small>")
        if out is None:
            self.diff = pd.DataFrame()
            self.html.value = note("This instance has no output (not selected or quarantined "
                                   "before de-identification): nothing to compare.", "warning")
            return
        try:
            self.diff = tag_diff(src, out, self.profile)
        except ReviewError as exc:
            self.diff = pd.DataFrame()
            self.html.value = note(str(exc), "error")
            return
        self._show()

    def _show(self) -> None:
        if self.diff.empty:
            return
        d = self.diff
        rows = d[d["action"].isin(self.actions.value)]
        text = self.search.value.strip().casefold()
        if text:
            hay = (rows["path"] + "\n" + rows["keyword"] + "\n" + rows["before"].fillna("")
                   + "\n" + rows["after"].fillna("")).str.casefold()
            rows = rows[hay.str.contains(text, regex=False)]
        self.table = rows
        self._filtered = bool(text) or set(self.actions.value) != set(ACTIONS)
        if self.page.value != 1:
            self.page.value = 1  # the observer renders
        else:
            self._render()

    def _render(self) -> None:
        if self.diff.empty:
            return
        rows = self.table
        pages = max(1, -(-len(rows) // self.page_size))
        set_pages(self.page, self.prev_button, self.next_button, pages)
        counts = self.diff["action"].value_counts()
        head = ", ".join(f"{counts.get(a, 0)} {a}" for a in ACTIONS)
        body = (tag_diff_html(rows, page=self.page.value, page_size=self.page_size,
                              open_groups=self._filtered)
                if not rows.empty else note("No attribute matches the filters."))
        self.html.value = f"<small>{head}; {len(rows)} shown</small><br>{body}"

    def static_html(self) -> str:
        """The files compared and the page of the table shown."""
        return f'<div class="wb-tag-diff">{self.files.value}{self.html.value}</div>'

"""TagDiffView: every attribute of an instance before and after, and the rule that decided it."""

from __future__ import annotations

import os
from typing import Sequence

import ipywidgets as w
import pandas as pd

from ..profile import Profile, load_profile
from ..errors import ReviewError
from ..review import ACTIONS, style_actions, tag_diff
from .base import View, classes, note


class TagDiffView(View):
    """The tag diff of one instance, chosen among aligned source and output files.

    Parameters
    ----------
    before, after
        A source and its output file, or aligned lists of them (``None`` outputs are
        shown as such).
    profile
        The profile that made the outputs (fills the ``rule`` column).

    Attributes
    ----------
    instance : ipywidgets.IntSlider
        Which pair of files is compared (hidden for a single pair).
    actions : ipywidgets.SelectMultiple
        Show only rows with these actions (all by default).
    search : ipywidgets.Text
        Show only rows whose path, keyword or values contain this text (any case).
    html : ipywidgets.HTML
        The table, coloured by action.
    diff : DataFrame
        The full tag diff of the current instance (:func:`workbench.review.tag_diff`).
    table : DataFrame
        The rows shown.
    """

    def __init__(self, before: str | os.PathLike | Sequence[str | os.PathLike],
                 after: str | os.PathLike | Sequence[str | os.PathLike | None],
                 profile: Profile | str | None = None):
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
        self.files = w.HTML()
        self.html = w.HTML()
        self.diff = pd.DataFrame()
        self.table = pd.DataFrame()
        self.instance.observe(lambda _: self._load(), names="value")
        self.actions.observe(lambda _: self._show(), names="value")
        self.search.observe(lambda _: self._show(), names="value")
        self.widget = w.VBox([w.HBox([self.instance, self.actions, self.search]), self.files,
                              self.html])
        classes({self.widget: "wb-tag-diff"})
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
        counts = d["action"].value_counts()
        head = ", ".join(f"{counts.get(a, 0)} {a}" for a in ACTIONS)
        body = (style_actions(rows.drop(columns=["tag"])).hide(axis="index").to_html()
                if not rows.empty else note("No attribute matches the filters."))
        self.html.value = f"<small>{head}; {len(rows)} shown</small>{body}"

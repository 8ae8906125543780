"""ContactSheet: thumbnails of every Nth slice per series, made only when shown."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import ipywidgets as w

from .base import View, classes, note, png_html, replace_children
from ..errors import Unviewable
from .images import SeriesFrames, default_preset, message_png, picture, png


class ContactSheet(View):
    """Every Nth slice of a series as a grid of thumbnails, for spot checks.

    Thumbnails are rendered lazily: only those of the page shown, once each.

    Parameters
    ----------
    series
        ``{label: files}`` per series (or one series' files).
    every
        Show every Nth slice (frame).
    columns, rows
        Thumbnails per row, rows per page.
    size
        Thumbnail size in pixels.

    Attributes
    ----------
    series : ipywidgets.Dropdown
        The series shown.
    every : ipywidgets.BoundedIntText
        The step between slices.
    page : ipywidgets.BoundedIntText
        The page of thumbnails (from 1).
    grid : ipywidgets.GridBox
        The thumbnails (``ipywidgets.Image``) with their slice numbers.
    message : ipywidgets.HTML
        Why the series cannot be shown, or which slices are on the page.
    rendered : int
        Thumbnails rendered so far (a cached thumbnail is not rendered again).
    """

    def __init__(self, series: Mapping[str, Sequence[str | os.PathLike]]
                 | Sequence[str | os.PathLike], *, every: int = 5, columns: int = 6,
                 rows: int = 2, size: int = 128):
        self._files = dict(series) if isinstance(series, Mapping) else {"series": list(series)}
        if not self._files:
            raise ValueError("no series to show")
        self._frames: dict[str, SeriesFrames] = {}
        self._thumbs: dict[tuple[str, int], bytes] = {}
        self.rendered = 0
        self.columns, self.rows, self.size = columns, rows, size
        self.series = w.Dropdown(options=list(self._files), description="series")
        self.every = w.BoundedIntText(value=max(1, every), min=1, max=10_000, description="every",
                                      layout=w.Layout(width="160px"))
        self.page = w.BoundedIntText(value=1, min=1, max=1, description="page",
                                     layout=w.Layout(width="160px"))
        self.message = w.HTML()
        self.grid = w.GridBox(layout=w.Layout(
            grid_template_columns=f"repeat({columns}, {size + 8}px)"))
        self.series.observe(lambda _: self._restart(), names="value")
        self.every.observe(lambda _: self._restart(), names="value")
        self.page.observe(lambda _: self._show(), names="value")
        self.widget = w.VBox([w.HBox([self.series, self.every, self.page]), self.message,
                              self.grid])
        classes({self.widget: "wb-contact-sheet", self.grid: "wb-thumbnails"})
        self._restart()

    @classmethod
    def from_table(cls, table, *, path: str = "output",
                   label: str = "{modality} {series_description}", **options) -> ContactSheet:
        """One series per ``series_uid`` of a table of files (pairs, or a catalog frame):
        files from its ``path`` column in instance order, named by ``label`` formatted
        with the series' first row (a name that repeats gets a number: "CT (2)")."""
        order = [c for c in ("patient_id", "series_number", "instance_number") if c in table]
        table = table.sort_values(order, kind="stable") if order else table
        series: dict[str, list] = {}
        for _, g in table.groupby("series_uid", sort=False):
            name = base = label.format(**g.iloc[0].to_dict())
            number = 1
            while name in series:
                number += 1
                name = f"{base} ({number})"
            series[name] = list(g[path])
        return cls(series, **options)

    @property
    def frames(self) -> SeriesFrames:
        """The frames of the series shown (headers read on first use)."""
        label = self.series.value
        if label not in self._frames:
            self._frames[label] = SeriesFrames(self._files[label])
        return self._frames[label]

    @property
    def slices(self) -> list[int]:
        """The slice numbers on the sheet (every Nth of the series)."""
        return list(range(0, len(self.frames), self.every.value))

    def _restart(self) -> None:
        per_page = self.columns * self.rows
        pages = max(1, -(-len(self.slices) // per_page))
        self.page.max = pages
        if self.page.value != 1:
            self.page.value = 1  # the observer shows it
        else:
            self._show()

    def _show(self) -> None:
        frames = self.frames
        problem = frames.problem
        if problem:
            replace_children(self.grid, [])
            self.message.value = note(f"This series cannot be shown: {problem}.", "warning")
            return
        per_page = self.columns * self.rows
        start = (self.page.value - 1) * per_page
        wanted = self.slices[start:start + per_page]
        tiles = []
        for n in wanted:
            image = w.Image(value=self._thumb(n), format="png",
                            layout=w.Layout(width=f"{self.size}px"))
            tiles.append(w.VBox([image, w.HTML(f"<small>slice {n}</small>")]))
        replace_children(self.grid, tiles)
        self.message.value = (f"<small>{len(self.slices)} of {len(frames)} slices (every "
                              f"{self.every.value}); page {self.page.value} of "
                              f"{self.page.max}</small>")

    def static_html(self) -> str:
        """The page of thumbnails shown, with their slice numbers."""
        tiles = "".join(
            f'<div style="display:inline-block;margin:2px;text-align:center">'
            f"{png_html(tile.children[0].value, self.size)}<br>{tile.children[1].value}</div>"
            for tile in self.grid.children)
        return f'<div class="wb-contact-sheet">{self.message.value}<div>{tiles}</div></div>'

    def _thumb(self, n: int) -> bytes:
        key = (self.series.value, n)
        if key not in self._thumbs:
            self.rendered += 1
            try:
                frame = self.frames.frame(n)
                preset = default_preset(self.frames.modality, frame.unit == "SUV")
                self._thumbs[key] = png(picture(frame, preset, size=self.size))
            except Unviewable as exc:
                self._thumbs[key] = message_png(str(exc), self.size)
        return self._thumbs[key]


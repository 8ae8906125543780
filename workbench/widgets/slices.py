"""SliceViewer: a series before and after de-identification, side by side."""

from __future__ import annotations

import html
import os
from typing import Sequence

import ipywidgets as w
import pandas as pd

from .base import View, classes, note, png_html
from ..errors import Unviewable
from .images import SeriesFrames, changed_regions, default_preset, message_png, picture, png, \
    presets_for, window_for


class SliceViewer(View):
    """Before and after of one series with a slice slider, window presets and outlines.

    Parameters
    ----------
    before
        The source files of the series.
    after
        The output files, aligned with ``before`` (``None`` where an instance has no
        output); omit to view one series alone.
    missing
        Why an instance has no output, aligned with ``after`` (shown in its place).
    preset
        Initial window preset (see :func:`workbench.widgets.images.presets_for`); by
        default CT soft tissue for CT, SUV 0-10 for PET in SUV, else the file's window.
    size
        Longest side of each picture in pixels.

    Attributes
    ----------
    slider : ipywidgets.IntSlider
        The slice (frame) shown; multi-frame files contribute every frame.
    preset : ipywidgets.Dropdown
        Window/level preset.
    outline : ipywidgets.Checkbox
        Outline the regions whose pixels changed.
    before_image, after_image : ipywidgets.Image
        PNG pictures of the slice.
    before_caption, after_caption : ipywidgets.HTML
        Instance number, slice position, matrix (rows x columns), unit, window level and
        width in that unit, and notes (e.g. why a PET is not in SUV).
    message : ipywidgets.HTML
        Why the series (or a slice) cannot be shown; empty when it can.
    regions : list of tuple
        Changed regions of the slice shown, ``(top, left, bottom, right)``.

    Pictures are enlarged with nearest neighbour (a 16 x 16 matrix shows 16 x 16 sharp
    squares), and a slice that cannot be drawn shows a picture saying why, never an empty
    image. Slices are stepped with the slider (drag it, or focus it and use the arrow
    keys): ipywidgets has no mouse-wheel event on an image without an extra package.
    """

    def __init__(self, before: Sequence[str | os.PathLike],
                 after: Sequence[str | os.PathLike | None] | None = None, *,
                 missing: Sequence[str | None] | None = None, preset: str | None = None,
                 size: int = 384):
        before = list(before)
        if after is not None and len(after) != len(before):
            raise ValueError(f"before has {len(before)} files and after {len(after)}; pass "
                             "aligned lists (None where an instance has no output)")
        after_list = list(after) if after is not None else [None] * len(before)
        why = list(missing) if missing is not None else [None] * len(before)
        self.before = SeriesFrames(before)
        order = {f: n for n, f in enumerate(self.before.files)}
        self.after = None
        if after is not None:
            aligned = sorted(zip(before, after_list, why), key=lambda p: order[str(p[0])])
            self.after = SeriesFrames([a for _, a, _ in aligned], sort=False,
                                      missing=[m for _, _, m in aligned])
        self.size = size
        self.regions: list[tuple[int, int, int, int]] = []
        suv = self._in_suv()
        options = presets_for(self.before.modality, suv)
        self.slider = w.IntSlider(0, 0, max(len(self.before) - 1, 0), description="slice",
                                  continuous_update=False)
        self.preset = w.Dropdown(options=options, value=preset if preset in options
                                 else default_preset(self.before.modality, suv),
                                 description="window")
        self.outline = w.Checkbox(value=True, description="outline changes", indent=False)
        self.before_image = w.Image(format="png", layout=w.Layout(width=f"{size}px"))
        self.after_image = w.Image(format="png", layout=w.Layout(width=f"{size}px"))
        self.before_caption, self.after_caption = w.HTML(), w.HTML()
        self.message = w.HTML()
        panes = [w.VBox([w.HTML("<b>before</b>"), self.before_image, self.before_caption])]
        if self.after is not None:
            panes.append(w.VBox([w.HTML("<b>after</b>"), self.after_image, self.after_caption]))
        controls = w.HBox([self.slider, self.preset, self.outline])
        self.widget = w.VBox([controls, self.message, w.HBox(panes)])
        classes({self.widget: "wb-slice-viewer", self.slider: "wb-slice-slider",
                 self.before_image: "wb-before-image", self.after_image: "wb-after-image",
                 self.message: "wb-viewer-message"})
        for control in (self.slider, self.preset, self.outline):
            control.observe(lambda _: self.show(), names="value")
        problem = self.before.problem
        if problem:
            self.message.value = note(f"This series cannot be shown: {problem}.", "warning")
            self.slider.disabled = self.preset.disabled = self.outline.disabled = True
            self.before_image.value = self.after_image.value = message_png(
                f"This series cannot be shown: {problem}.", self.size)
        else:
            self.show()

    @classmethod
    def from_pairs(cls, pairs: pd.DataFrame, series_uid: str, **options) -> SliceViewer:
        """The viewer of one series from :func:`workbench.review.pair_outputs`."""
        rows = pairs[pairs["series_uid"] == series_uid]
        if rows.empty:
            raise ValueError(f"no instance of series {series_uid} in the pairs")
        after = [None if pd.isna(o) else o for o in rows["output"]]
        missing = [f"{state}: {reason}" if reason else state
                   for state, reason in zip(rows["state"], rows["reason"])]
        return cls(list(rows["source"]), after, missing=missing, **options)

    def _in_suv(self) -> bool:
        if self.before.modality != "PT" or self.before.problem:
            return False
        try:
            return self.before.frame(0).unit == "SUV"
        except Unviewable:
            return False

    def show(self, index: int | None = None) -> None:
        """Render slice ``index`` (default: the slider's) before and after."""
        if index is not None and index != self.slider.value:
            self.slider.value = index  # the observer renders
            return
        n, preset = self.slider.value, self.preset.value
        self.message.value = ""
        before = after = None
        try:
            before = self.before.frame(n)
        except Unviewable as exc:
            self._fail(self.before_image, self.before_caption, str(exc))
        if self.after is not None:
            try:
                after = self.after.frame(n)
            except Unviewable as exc:
                self._fail(self.after_image, self.after_caption, str(exc))
        self.regions = []
        if before is not None and after is not None and before.colour != after.colour:
            self.regions = [(0, 0, *after.values.shape[:2])]
        elif before is not None and after is not None:
            self.regions = changed_regions(before.values, after.values)
        boxes = self.regions if self.outline.value else ()
        if before is not None:
            self._draw(self.before_image, self.before_caption, before, preset, boxes)
        if after is not None:
            changed = (f"; {len(self.regions)} changed region(s)" if self.regions
                       else "; pixels unchanged" if before is not None else "")
            self._draw(self.after_image, self.after_caption, after, preset, boxes, changed)

    def _draw(self, image: w.Image, caption: w.HTML, frame, preset: str, boxes,
              extra: str = "") -> None:
        try:
            image.value = png(picture(frame, preset, boxes, self.size))
        except Exception as exc:  # an empty or odd frame: say why instead of a broken image
            reason = str(exc) or type(exc).__name__
            self._fail(image, caption, f"this slice cannot be drawn: {reason}")
            return
        caption.value = _caption(frame, preset, extra, self.slider.value, len(self.before))

    def static_html(self) -> str:
        """The slice shown, before and after, as pictures with their captions."""
        panes = [("before", self.before_image, self.before_caption)]
        if self.after is not None:
            panes.append(("after", self.after_image, self.after_caption))
        cells = "".join(
            f'<div style="display:inline-block;vertical-align:top;margin-right:8px">'
            f"<b>{label}</b><br>{png_html(image.value, self.size)}<br>{caption.value}</div>"
            for label, image, caption in panes)
        return f'<div class="wb-slice-viewer">{self.message.value}{cells}</div>'

    def _fail(self, image: w.Image, caption: w.HTML, reason: str) -> None:
        image.value = message_png(reason, self.size)
        caption.value = note(reason, "warning")
        self.message.value = note(f"Slice {self.slider.value}: {reason}", "warning")


def _caption(frame, preset: str, extra: str = "", index: int | None = None,
             total: int | None = None) -> str:
    """Where the slice is, its matrix, and the window in numbers, then the unit and notes."""
    unit = frame.unit or "stored values"
    where = [] if index is None else [f"slice {index + 1} of {total}"]
    if frame.instance is not None:
        where.append(f"instance {frame.instance}")
    if frame.position is not None:
        where.append(f"position {frame.position:.2f} mm")
    rows, columns = frame.values.shape[:2]
    where.append(f"matrix {rows} × {columns}")
    if frame.colour:
        window = f"{unit}, window {preset} (colour: not windowed)"
    else:
        centre, width = window_for(frame, preset)
        window = f"{unit}, window {preset}: level {centre:.6g}, width {width:.6g}"
    text = f"{window}{extra}"
    if frame.note:
        text += f" ({frame.note})"
    return (f"<small>{html.escape(' · '.join(where))}<br>{html.escape(text)}</small>")


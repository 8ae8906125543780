"""Rendering review tables as HTML a reader can read, and colouring them by action.

Tables wrap to the page width, long values fold into their cell's title, and long
tables come in pages (:func:`page_bounds`, :func:`showing`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    import pandas as pd


#: What happened to an attribute, as seen by comparing the source with the output.
ACTIONS = ("retained", "replaced", "emptied", "removed", "added")
#: Background colours of the styled tables, one per action (colour-blind safe pastels).
ACTION_COLOURS = {"retained": "#e8f5e9", "replaced": "#fff3cd", "emptied": "#e3f2fd",
                  "removed": "#f8d7da", "added": "#ede7f6"}


# --- styling --------------------------------------------------------------------------------

def style_actions(table: pd.DataFrame, column: str = "action"):
    """A pandas Styler colouring rows by their action (or action count cells above zero)."""
    styler = table.style
    if column in table.columns:
        def row_colour(row):
            colour = ACTION_COLOURS.get(row[column], "")
            return [f"background-color: {colour}" if colour else ""] * len(row)

        return styler.apply(row_colour, axis=1)
    present = [a for a in ACTIONS if a in table.columns]
    for action in present:
        styler = styler.map(
            lambda v, c=ACTION_COLOURS[action]: f"background-color: {c}" if v else "",
            subset=[action])
    return styler


# --- presentation: HTML a reader can read ------------------------------------------------------

class Rendered(str):
    """Rendered HTML: Jupyter shows it as HTML, also in an executed notebook without a kernel."""

    def _repr_html_(self) -> str:
        return str(self)


#: The block every rendered view sits in: never wider than the page, text line height
#: (an ipywidgets HTML widget would otherwise give every line the height of a control).
BLOCK_STYLE = "max-width:100%;min-width:0;line-height:1.35"


def _block(parts: Iterable[str]) -> Rendered:
    return Rendered(f'<div class="wb-review" style="{BLOCK_STYLE}">{"".join(parts)}</div>')


#: Inline style of every rendered table: as wide as the page, never wider; long values wrap.
#: (``white-space``, ``word-break`` and ``overflow-wrap`` are inherited by the cells.)
TABLE_STYLE = ("table-layout:fixed;width:100%;max-width:100%;border-collapse:collapse;"
               "white-space:normal;word-break:break-word;overflow-wrap:anywhere;"
               "font-size:12px")
#: The cells: aligned to the top left, so wrapped values read like text.
TABLE_CSS = ("<style>table.wb-table td,table.wb-table th{text-align:left;vertical-align:top;"
             "padding:2px 6px;white-space:normal;word-break:break-word;"
             "overflow-wrap:anywhere;max-width:none}"
             "details.wb-group>summary{cursor:pointer;padding:2px 0}</style>")
#: Characters of a value shown in a cell; the rest is in the cell's title.
CELL_CHARS = 400


PAGE_SIZE = 200


def _esc(value) -> str:
    import html

    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    if len(text) > CELL_CHARS:
        return (f'<span title="{html.escape(text)}">{html.escape(text[:CELL_CHARS])}'
                f" &hellip; ({len(text)} characters)</span>")
    return html.escape(text)


def short_uid(uid, head: int = 8, tail: int = 6) -> str:
    """A UID as HTML: its first and last characters, the whole UID in the title."""
    import html

    text = "" if uid is None or uid != uid else str(uid)
    if len(text) <= head + tail + 2:
        return html.escape(text)
    return (f'<span title="{html.escape(text)}">{html.escape(text[:head])}&hellip;'
            f"{html.escape(text[-tail:])}</span>")


def html_table(columns: Sequence[str], rows: Iterable[tuple[Sequence[str], str]],
               widths: dict[str, float] | None = None, *, header: bool = True,
               labels: dict[str, str] | None = None) -> str:
    """An HTML table that wraps to the page width.

    ``rows`` are ``(cells, style)``: cells already HTML (escape text with :func:`_esc`),
    the style of the row (e.g. its background). ``widths`` are percentages per column.
    """
    labels = labels or {}
    parts = [f'<table class="wb-table" style="{TABLE_STYLE}">']
    if widths:
        total = sum(widths.get(c, 0) for c in columns) or 1
        parts.append("<colgroup>" + "".join(
            f'<col style="width:{100 * widths.get(c, 0) / total:.1f}%">' for c in columns)
            + "</colgroup>")
    if header:
        parts.append("<thead><tr>" + "".join(f"<th>{_esc(labels.get(c, c))}</th>"
                                             for c in columns) + "</tr></thead>")
    parts.append("<tbody>")
    for cells, style in rows:
        parts.append((f'<tr style="{style}">' if style else "<tr>")
                     + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def page_bounds(total: int, page: int, page_size: int = PAGE_SIZE) -> tuple[int, int, int, int]:
    """``(page, pages, start, stop)`` of a 1-based page (clamped to the pages there are)."""
    pages = max(1, -(-total // max(page_size, 1)))
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    return page, pages, start, min(start + page_size, total)


def showing(total: int, page: int, page_size: int = PAGE_SIZE, what: str = "row(s)") -> str:
    """``showing 1–200 of 1234 row(s) (page 1 of 7)``: the rows of a page, never a silent cut."""
    page, pages, start, stop = page_bounds(total, page, page_size)
    if total == 0:
        return f"no {what}"
    return f"showing {start + 1}–{stop} of {total} {what} (page {page} of {pages})"


def _row_style(action: str) -> str:
    colour = ACTION_COLOURS.get(action, "")
    return f"background-color:{colour}" if colour else ""

"""What every view shares: one top-level ipywidget, shown by Jupyter's display()."""

from __future__ import annotations

import html

import ipywidgets as w


class View:
    """A view over review functions; ``widget`` is the ipywidget to display.

    Besides the live widget, a view with :meth:`static_html` puts that HTML in its display
    bundle (``text/html``): an executed notebook opened without a kernel (nbconvert,
    GitHub, a saved copy) shows the tables there, not ``VBox(children=...)``.
    """

    widget: w.Widget

    def static_html(self) -> str | None:
        """What the view shows, as plain HTML (None: the view has no static form)."""
        return None

    def _repr_html_(self) -> str | None:
        return self.static_html()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        static = self.static_html()
        if static is None:
            return bundle
        if isinstance(bundle, tuple):  # (data, metadata)
            data, metadata = bundle
            return {**data, "text/html": static}, metadata
        return {**(bundle or {}), "text/html": static}


#: Command-line advice in messages, and what it means where an app does the step.
_NOTEBOOK_WORDS = (
    ("run workbench deid --resume", "press De-identify again"),
    ("re-run with --resume", "press De-identify again"),
    ("pass --resume to", "choose another output folder (out), or de-identify again to"),
    ("pass --lookup CSV", "give the lookup table (the lookup field, step 2, or the notebook's "
     "lookup parameter)"),
    ("pass it on the command line (e.g. --site for site_id)", "give it as the notebook's "
     "parameter (e.g. site)"),
    ("or pass --store with a writable path", "or give a writable store_path"),
    ("Use --store elsewhere", "Give a store_path outside it"),
    ("the --store used for de-identification or --trial-secret-file",
     "the store_path used for de-identification"),
    ("the same --store", "the same store_path"),
    ("pass --profile to say which", "give the profile"),
)


def notebook_words(message: object) -> str:
    """An error's message with its command-line advice said as a notebook user does it."""
    text = str(message)
    for cli, notebook in _NOTEBOOK_WORDS:
        text = text.replace(cli, notebook)
    return text


def note(text: str, kind: str = "info") -> str:
    """HTML for a short message (``info``, ``warning`` or ``error``), text escaped."""
    colour = {"info": "#555", "warning": "#8a6d00", "error": "#a00"}[kind]
    return f'<div style="color:{colour}">{html.escape(text)}</div>'


def png_html(data: bytes, width: int, alt: str = "slice") -> str:
    """An ``<img>`` of PNG bytes (a data URI) for static HTML; nothing without a picture."""
    import base64

    if not data:
        return ""
    return (f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}" '
            f'width="{width}" style="image-rendering:pixelated" alt="{html.escape(alt)}">')


def page_controls(label: str = "page") -> tuple[w.Button, w.BoundedIntText, w.Button]:
    """Previous and next buttons around a page number (from 1), as the tables page."""
    prev = w.Button(description="previous", icon="chevron-left",
                    layout=w.Layout(width="110px"))
    page = w.BoundedIntText(value=1, min=1, max=1, description=label,
                            layout=w.Layout(width="150px"))
    nxt = w.Button(description="next", icon="chevron-right", layout=w.Layout(width="110px"))
    prev.on_click(lambda _: setattr(page, "value", max(page.min, page.value - 1)))
    nxt.on_click(lambda _: setattr(page, "value", min(page.max, page.value + 1)))
    return prev, page, nxt


def set_pages(page: w.BoundedIntText, prev: w.Button, nxt: w.Button, pages: int) -> None:
    """Bound the page number to ``pages`` and enable the buttons that can move."""
    page.max = max(pages, 1)
    prev.disabled = page.value <= 1
    nxt.disabled = page.value >= page.max


def classes(named: dict[w.DOMWidget, str]) -> None:
    """Give widgets the CSS classes a browser test (or a stylesheet) finds them by."""
    for widget, name in named.items():
        widget.add_class(name)


def replace_children(box: w.Box, children: list[w.Widget]) -> None:
    """Show ``children`` in ``box`` and close the widgets they replace (no leak per page)."""
    old = list(box.children)
    box.children = children
    while old:
        widget = old.pop()
        old.extend(getattr(widget, "children", ()))
        widget.close()

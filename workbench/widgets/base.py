"""What every view shares: one top-level ipywidget, shown by Jupyter's display()."""

from __future__ import annotations

import html

import ipywidgets as w


class View:
    """A view over review functions; ``widget`` is the ipywidget to display."""

    widget: w.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def note(text: str, kind: str = "info") -> str:
    """HTML for a short message (``info``, ``warning`` or ``error``), text escaped."""
    colour = {"info": "#555", "warning": "#8a6d00", "error": "#a00"}[kind]
    return f'<div style="color:{colour}">{html.escape(text)}</div>'


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

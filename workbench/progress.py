"""Progress bars: text in a terminal, HTML in Jupyter that an executed notebook keeps.

A tqdm widget (``tqdm.notebook``) leaves "0/342" in a notebook saved without its
widget state, as papermill saves them. In a Jupyter kernel the bars here are HTML
instead: one display output updated in place (its last state is what the executed
copy shows), or the ``ipywidgets.HTML`` given to :func:`bars_into`, as an app does
for the steps its buttons run.
"""

from __future__ import annotations

import html
import io
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

#: Where bars made now draw: an ipywidgets.HTML, or None (a display output of their own).
_target: ContextVar = ContextVar("workbench_progress_target", default=None)
_TEXT = "{n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
#: The bars drawn into each widget, in the order they started (e.g. a push and its study).
_drawn: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class HtmlBar(tqdm):
    """A tqdm bar drawn as an HTML ``<progress>`` and its numbers, in a notebook or widget."""

    def __init__(self, *args, target=None, **options):
        self._widget = target
        self._handle = None
        options.setdefault("mininterval", 0.5)
        super().__init__(*args, file=io.StringIO(), **options)

    def _html(self) -> str:
        meter = self.format_dict
        text = self.format_meter(**{**meter, "bar_format": (
            "{desc}: " if meter.get("prefix") else "") + _TEXT})
        value = f' value="{meter["n"]}" max="{meter["total"]}"' if meter["total"] else ""
        return (f'<div class="wb-progress"><progress{value} style="width:240px"></progress> '
                f"<code>{html.escape(text)}</code></div>")

    def display(self, msg=None, pos=None) -> bool:
        # tqdm closes a bar that should not stay (leave=False) with an empty message
        self._show("" if msg == "" else self._html())
        return True

    def _show(self, content: str) -> None:
        if self._widget is not None:
            bars = _drawn.setdefault(self._widget, {})
            bars[id(self)] = content
            if not content:
                del bars[id(self)]
            self._widget.value = "".join(bars.values())
            return
        from IPython.display import HTML, display

        if self._handle is None:
            self._handle = display(HTML(content), display_id=True)
        else:
            self._handle.update(HTML(content))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


@contextmanager
def bars_into(widget) -> Iterator[None]:
    """Draw the bars made inside the block into ``widget`` (an ``ipywidgets.HTML``)."""
    token = _target.set(widget)
    try:
        yield
    finally:
        _target.reset(token)


def progress_bar(iterable=None, *, enabled: bool = True, **options) -> tqdm:
    """A progress bar, off when ``enabled`` is False; ``TQDM_DISABLE=1`` turns every bar off.

    ``disable`` is only passed when turning the bar off, so tqdm's ``TQDM_*``
    environment variables keep working.
    """
    if not enabled:
        options["disable"] = True
    target = _target.get()
    if target is not None or _in_kernel():
        return HtmlBar(iterable, target=target, **options)
    return tqdm(iterable, **options)

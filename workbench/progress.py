"""Progress bars: ``tqdm.auto`` (a widget in Jupyter, text in a terminal)."""

from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, enabled: bool = True, **options) -> tqdm:
    """A tqdm bar, off when ``enabled`` is False; ``TQDM_DISABLE=1`` turns every bar off.

    ``disable`` is only passed when turning the bar off, so tqdm's ``TQDM_*``
    environment variables keep working.
    """
    if not enabled:
        options["disable"] = True
    return tqdm(iterable, **options)

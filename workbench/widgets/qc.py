"""QCFlags: reviewers mark each scan of an output usable, questionable or unusable.

Flags are kept in the site's store (append-only) and written to the XNAT scan's
quality field after the push: images are flagged, never edited.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import ipywidgets as w
import pandas as pd

from ..errors import WorkbenchError
from ..store import QUALITY, Store
from .base import View, classes, note, notebook_words


class QCFlags(View):
    """One row per series folder of an output: a quality choice (none preselected) and a note.

    Parameters
    ----------
    store
        The site's state database.
    trial
        The trial key (``Profile.trial_key``).
    out
        The output folder (``OUT/<subject>/<study>/<series>/``).
    reviewer
        Who flags (initial value of the reviewer field).

    Attributes
    ----------
    choices ((study, series) -> ToggleButtons), notes ((study, series) -> Text), reviewer
    (Text), save_button (Button), message (HTML), table (DataFrame of the latest flags).
    """

    def __init__(self, store: Store, trial: str, out: str | os.PathLike, reviewer: str = ""):
        self.store, self.trial, self.out = store, trial, Path(out)
        flagged = store.scan_flags(trial)
        self.choices: dict[tuple[str, str], w.ToggleButtons] = {}
        self.notes: dict[tuple[str, str], w.Text] = {}
        rows = []
        for series in sorted(p for p in self.out.glob("*/*/*") if p.is_dir()):
            key = (f"{series.parent.parent.name}/{series.parent.name}", series.name)
            old = flagged.get(key, {})
            self.choices[key] = w.ToggleButtons(options=QUALITY, value=old.get("flag"))
            self.notes[key] = w.Text(value=old.get("note", ""), placeholder="why")
            rows.append(w.HBox([w.HTML(f"<code>{html.escape(key[0])}</code> "
                                       f"{html.escape(key[1])}", layout=w.Layout(width="320px")),
                                self.choices[key], self.notes[key]]))
        self.reviewer = w.Text(value=reviewer, description="reviewer", placeholder="your name")
        self.save_button = w.Button(description="save flags", icon="flag")
        self.message = w.HTML(note(f"{len(rows)} scan(s); choose a quality for those you "
                                   "looked at, then save." if rows else
                                   f"No de-identified series in {self.out}."))
        self.save_button.on_click(lambda _: self.save())
        self.widget = w.VBox([*rows, w.HBox([self.reviewer, self.save_button]), self.message])
        classes({self.widget: "wb-qc-flags", self.save_button: "wb-save-flags"})

    @property
    def table(self) -> pd.DataFrame:
        rows = [{"study": s, "series": r, **{k: v for k, v in row.items()
                                              if k in ("flag", "reviewer", "at", "note")}}
                for (s, r), row in self.store.scan_flags(self.trial).items()]
        return pd.DataFrame(rows, columns=["study", "series", "flag", "reviewer", "at", "note"])

    def save(self) -> None:
        """Record the chosen flags (a refusal is shown, not raised)."""
        chosen = [(key, box.value) for key, box in self.choices.items() if box.value]
        if not chosen:
            self.message.value = note("Nothing to save: choose a quality for a scan first.",
                                      "warning")
            return
        try:
            for (study, series), flag in chosen:
                self.store.flag_scan(self.trial, study, series, flag, self.reviewer.value,
                                     self.notes[(study, series)].value)
        except WorkbenchError as exc:
            self.message.value = note(f"Not saved: {notebook_words(exc)}", "error")
            return
        self.message.value = note(f"Saved {len(chosen)} flag(s); the push writes them to XNAT.")

    def static_html(self) -> str:
        return "<h4>QC flags</h4>" + self.table.to_html(index=False, escape=True)

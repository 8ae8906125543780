"""SignOffForm: a reviewer's verdict on a sampled study, recorded in the site's store."""

from __future__ import annotations

import html
from typing import Iterable

import ipywidgets as w
import pandas as pd

from ..errors import WorkbenchError
from ..store import VERDICTS, Store
from .base import View, classes


class SignOffForm(View):
    """Pick a study, name the reviewer, choose a verdict, add a note, sign off.

    Parameters
    ----------
    store
        The site's state database; each sign-off is kept there and in the audit log.
    trial
        The trial key (``Profile.trial_key``).
    studies
        ``(label, study UID)`` pairs offered in the dropdown.
    reviewer, note
        Initial values of the form. The verdict starts unchosen: the reviewer picks it.

    Attributes
    ----------
    study (Dropdown), reviewer (Text), verdict (ToggleButtons), note (Textarea),
    sign_button (Button), signed (HTML: the outcome and the latest sign-offs).
    """

    def __init__(self, store: Store, trial: str, studies: Iterable[tuple[str, str]], *,
                 reviewer: str = "", note: str = "") -> None:
        self.store, self.trial = store, trial
        self.study = w.Dropdown(options=list(studies), description="study")
        self.reviewer = w.Text(value=reviewer, description="reviewer", placeholder="your name")
        self.verdict = w.ToggleButtons(options=VERDICTS, value=None, description="verdict")
        self.note = w.Textarea(value=note, description="note",
                               placeholder="what you looked at, what you found")
        self.sign_button = w.Button(description="sign off", button_style="success", icon="check")
        self.signed = w.HTML()
        classes({self.sign_button: "wb-sign-off", self.signed: "wb-sign-offs"})
        self.sign_button.on_click(self.sign_off)
        self.show()
        self.widget = w.VBox([self.study, self.reviewer, self.verdict, self.note,
                              self.sign_button, self.signed])

    @classmethod
    def for_sample(cls, store: Store, trial: str, sample, **options) -> SignOffForm:
        """The form over a spot-check sample (:func:`workbench.review.spot_check_sample`)."""
        return cls(store, trial, [(f"{r.site} {r.subject} {r.date}", r.study_uid)
                                  for r in sample.itertuples()], **options)

    def sign_all(self, verdict: str) -> None:
        """Sign off every study of the form with ``verdict`` and the form's reviewer and note
        (an unattended run's sign-off; a refusal is shown, not raised)."""
        if verdict not in VERDICTS:
            self.show(f"<p><b>Not recorded:</b> the verdict {html.escape(repr(verdict))} is "
                      f"not one of {', '.join(VERDICTS)}.</p>")
            return
        self.verdict.value = verdict
        for _, uid in self.study.options:
            self.study.value = uid
            self.sign_off()

    def sign_off(self, _=None) -> None:
        """Record the form's verdict for the chosen study (a refusal is shown, not raised)."""
        if self.verdict.value is None:
            self.show("<p><b>Not recorded:</b> choose a verdict, approved or rejected.</p>")
            return
        try:
            row = self.store.sign_off(self.trial, self.study.value, self.reviewer.value,
                                      self.verdict.value, self.note.value)
        except WorkbenchError as exc:
            self.show(f"<p><b>Not recorded:</b> {html.escape(str(exc))}</p>")
        else:
            self.show(f"<p>Recorded: {html.escape(row['subject_id'])} {row['verdict']} by "
                      f"{html.escape(row['reviewer'])} at {row['at']}.</p>")

    def show(self, message: str = "") -> None:
        """Show ``message`` above the latest sign-off of every study of the trial."""
        rows = pd.DataFrame(self.store.sign_offs(self.trial, latest=True))
        table = rows.drop(columns=["trial"]).to_html(index=False) if len(rows) else ""
        self.signed.value = message + table

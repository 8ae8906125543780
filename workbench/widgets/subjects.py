"""SubjectIDs: enter or correct the trial's subject ID per patient, saved in the store."""

from __future__ import annotations

import html
from typing import Iterable

import ipywidgets as w
import pandas as pd

from ..catalog import Instance
from ..deid.pseudonyms import pattern_problem
from ..errors import WorkbenchError
from ..lookup import subject_keys
from ..profile import Profile
from ..store import Store
from .base import View, classes, note, notebook_words

OK = "ok"


class SubjectIDs(View):
    """One row per Patient ID (or accession number, when the profile keys subjects on
    AccessionNumber) of the series the profile selects, with a field for the trial's
    subject ID. Each ID is checked as it is typed (the profile's ``subject_id.pattern``,
    one ID per patient); **Save** records the IDs in the store as manual links, which a
    profile with ``subject_id: {from: manual}`` de-identifies with.

    Parameters
    ----------
    instances
        The delivery's catalog (:func:`workbench.catalog.scan`).
    profile
        The trial's profile (its ``subject_id`` rule: key, pattern, shared_ids).
    store
        The site's state database; IDs saved before are shown in the fields.

    Attributes
    ----------
    fields (key -> Text), checks (key -> HTML: "ok" or why not), save_button (Button),
    message (HTML: what Save did), rows (VBox), table (DataFrame: key, name, ID, check).
    """

    def __init__(self, instances: Iterable[Instance], profile: Profile, store: Store) -> None:
        self.profile, self.store = profile, store
        rule = profile.subject_id
        self.key_field = rule.get("key", "PatientID")
        self.key_label = "Patient ID" if self.key_field == "PatientID" else "accession number"
        self.trial = profile.trial_key
        self.keys = subject_keys(instances, profile)
        self.saved = self._saved()
        self.fields: dict[str, w.Text] = {}
        self.checks: dict[str, w.HTML] = {}
        rows = [w.HBox([w.HTML(f"<b>{html.escape(self.key_label)}</b>",
                               layout=w.Layout(width="160px")),
                        w.HTML("<b>name</b>", layout=w.Layout(width="200px")),
                        w.HTML("<b>trial subject ID</b>", layout=w.Layout(width="220px")),
                        w.HTML("<b>check</b>")])]
        for k, info in self.keys.items():
            field = w.Text(value=self.saved.get(k, ("", ""))[0], placeholder="trial ID",
                           layout=w.Layout(width="220px"))
            self.fields[k], self.checks[k] = field, w.HTML()
            field.observe(lambda _: self.check(), names="value")
            rows.append(w.HBox([w.Label(k, layout=w.Layout(width="160px")),
                                w.Label("; ".join(sorted(info["patient_name"])),
                                        layout=w.Layout(width="200px")),
                                field, self.checks[k]]))
        self.rows = w.VBox(rows)
        self.save_button = w.Button(description="Save", button_style="success", icon="save")
        self.message = w.HTML()
        classes({self.rows: "wb-subject-ids", self.save_button: "wb-save-subject-ids",
                 self.message: "wb-subject-ids-message"})
        self.save_button.on_click(self.save)
        pattern = rule.get("pattern")
        intro = note(f"Type the trial's subject ID for each {self.key_label}"
                     + (f" (it must match {pattern})" if pattern else "")
                     + ", then Save. Profiles with subject_id from: manual use these IDs.")
        self.check()
        self.widget = w.VBox([w.HTML(intro), self.rows, self.save_button, self.message])

    def _saved(self) -> dict[str, tuple[str, str]]:
        """Key -> (subject ID, method) of the links the store holds for this trial."""
        return self.store.subject_links(self.trial, self.key_field)

    def value(self, key: str) -> str:
        return self.fields[key].value.strip()

    def problems(self) -> dict[str, str | None]:
        """Key -> why the ID typed for it cannot be saved (None: it can, or none is typed)."""
        holders: dict[str, list[str]] = {}
        for k, (sid, _) in self.saved.items():
            if k not in self.fields:
                holders.setdefault(sid, []).append(k)
        for k in self.fields:
            holders.setdefault(self.value(k), []).append(k)
        return {k: self._problem(k, holders) for k in self.fields}

    def problem(self, key: str) -> str | None:
        """Why the ID typed for ``key`` cannot be saved (None: it can, or nothing is typed)."""
        return self.problems()[key]

    def _problem(self, key: str, holders: dict[str, list[str]]) -> str | None:
        sid = self.value(key)
        if not sid:
            return None
        who = f"{self.key_label} {key}"
        bad = pattern_problem(self.profile, sid)
        if bad:
            return f"{who}: the trial {bad.replace('subject ID ', 'ID ', 1)}"
        old = self.saved.get(key)
        if old and old[1] != "manual" and old[0] != sid:
            return (f"{who} already has the trial ID {old[0]!r} (made by {old[1]}); "
                    "that ID stays")
        if not self.profile.subject_id.get("shared_ids"):
            others = [k for k in holders.get(sid, []) if k != key]
            if others:
                return (f"{who}: the trial ID {sid!r} is also given to {self.key_label} "
                        f"{others[0]}; give each patient their own ID")
        return None

    def check(self) -> None:
        """Show "ok" or the reason beside every ID typed."""
        problems = self.problems()
        for k, label in self.checks.items():
            why = problems[k]
            if why:
                label.value = note(why, "error")
            elif self.value(k):
                label.value = note(OK)
            else:
                label.value = note("no ID yet", "warning")

    def save(self, _=None) -> None:
        """Record the IDs that pass the checks as manual links; name the ones that do not."""
        problems = self.problems()
        refused = [why for why in problems.values() if why]
        rows = [(k, k if self.key_field == "PatientID" else
                 min(self.keys[k]["patient_id"], default=""),
                 "; ".join(sorted(self.keys[k]["patient_name"])), self.value(k))
                for k in self.fields if self.value(k) and not problems[k]]
        try:
            n = self.store.set_manual_subjects(
                self.trial, self.key_field, rows,
                shared_ids=bool(self.profile.subject_id.get("shared_ids")))
        except WorkbenchError as exc:
            self.message.value = note(f"Not saved: {notebook_words(exc)}", "error")
            return
        self.saved = self._saved()
        self.check()
        text = f"Saved {n} new or changed ID(s) for trial {self.trial}."
        blank = [k for k in self.fields if not self.value(k) and k not in self.saved]
        if blank:
            text += (f" Still without an ID ({len(blank)}): {', '.join(blank)}; their studies "
                     "are quarantined until one is entered.")
        self.message.value = note(text) + "".join(note(f"Not saved: {why}", "error")
                                                  for why in refused)

    @property
    def table(self) -> pd.DataFrame:
        """Key, patient name, the ID typed and its check, one row per key."""
        problems = self.problems()
        return pd.DataFrame(
            [{self.key_label: k, "name": "; ".join(sorted(self.keys[k]["patient_name"])),
              "subject_id": self.value(k),
              "check": problems[k] or (OK if self.value(k) else "no ID yet")}
             for k in self.fields],
            columns=[self.key_label, "name", "subject_id", "check"])

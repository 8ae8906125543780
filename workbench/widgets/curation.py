"""CurationApp: one widget from a folder to a confirmed push.

Its steps, in order: browse and select, lookup, de-identify and verify, review,
approve, push. With the source, profile, lookup and reviewer given, a delivery
that needs no attention takes three actions: De-identify, Approve, Push. Each
step says what to do next and refuses what does not make sense yet: nothing is
approved before it was de-identified, nothing is pushed before a person approved it.
A series de-identified and unticked since is withdrawn only when the person confirms it
(its output moves to ``OUT.withdrawn``; see :mod:`workbench.withdraw`).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import ipywidgets as w
import pandas as pd

from ..approval import APPROVED, REJECTED, WAITING, sign, states_table, study_states
from ..catalog import scan
from ..deid.run import deidentify_delivery
from ..errors import WorkbenchError
from ..profile import Profile, load_profile
from ..progress import bars_into
from ..protocol import check, findings_table, load_protocol, study_results
from ..store import Store
from .base import View, classes, note, notebook_words
from .browser import StudyBrowser
from .push_panel import PushPanel
from .tags import TagDiffView


class CurationApp(View):
    """Browse and select, lookup, de-identify and verify, review, approve, push.

    Parameters
    ----------
    source
        The delivery folder (read only).
    profile
        The trial's profile (name, path or loaded).
    store
        The site's state database (a :class:`~workbench.store.Store` or its path).
    out
        The output folder (new, or one this app or ``workbench deid`` wrote before).
    lookup, site, reviewer
        The lookup table, the site ID and who approves, as the notebook's parameters.
    protocol
        The trial protocol (name or path) the selection is checked against when it is
        de-identified; a study that fails it cannot be approved.
    destination, project
        The XNAT URL and project (default: the profile's ``trial:``); further keyword
        arguments go to the push (:class:`~workbench.widgets.PushPanel`).
    instances
        The catalog of ``source`` (:func:`workbench.catalog.scan`) when made already;
        by default the app scans the source.

    Attributes
    ----------
    browser (StudyBrowser), lookup (Text), withdraw_unticked (Checkbox: confirms moving
    the output of series unticked since a run), deid_button (Button), review (VBox: the tag
    diff of a released instance), findings (HTML: the protocol check), chosen
    (SelectMultiple: the studies to sign off; all waiting ones by default), reviewer
    (Text), approve_note (Text), approve_button and reject_button (Button), push
    (PushPanel), states (HTML: each study's state), next_step (HTML: what to do next),
    report (the last de-identification Report, or None); ``deidentify()``, ``approve()``,
    ``reject()`` and ``refresh()`` do what the buttons do, for unattended runs.
    """

    def __init__(self, source: str | os.PathLike, *, profile: Profile | str,
                 store: Store | str | os.PathLike, out: str | os.PathLike,
                 lookup: str = "", site: str = "", reviewer: str = "",
                 protocol: str | os.PathLike | None = None, destination: str | None = None,
                 project: str | None = None, instances: list | None = None, **push_options):
        self.source = Path(source)
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.store = store if isinstance(store, Store) else Store(store)
        self.out = Path(out).resolve()
        self.site = site
        self.protocol = load_protocol(protocol) if protocol else None
        self.report = None
        self.instances = instances if instances is not None else scan(self.source, progress=True)[0]
        self.browser = StudyBrowser(self.instances, self.profile)
        self.lookup = w.Text(value=lookup, description="lookup", placeholder="subjects.csv",
                             layout=w.Layout(width="520px"))
        self.withdraw_unticked = w.Checkbox(
            value=False, description="withdraw the output of series unticked since a run",
            layout=w.Layout(width="520px"))
        self.deid_button = w.Button(description="De-identify", button_style="primary",
                                    icon="user-secret")
        self.progress = w.HTML()
        self.findings = w.HTML()
        self.review = w.VBox()
        self.chosen = w.SelectMultiple(description="studies", rows=4,
                                       layout=w.Layout(width="520px"))
        self.reviewer = w.Text(value=reviewer, description="reviewer", placeholder="your name")
        self.approve_note = w.Text(description="note", placeholder="what you looked at, or "
                                   "why you reject", layout=w.Layout(width="520px"))
        self.approve_button = w.Button(description="Approve", button_style="success",
                                       icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger",
                                      icon="times")
        self.push = PushPanel(self.out, self.profile, self.store, url=destination,
                              project=project, **push_options)
        self.states = w.HTML()
        self.next_step = w.HTML()
        self.deid_button.on_click(lambda _: self.deidentify())
        self.approve_button.on_click(lambda _: self.approve())
        self.reject_button.on_click(lambda _: self.reject())
        self.widget = w.VBox([
            w.HTML("<h3>1. Browse and select</h3>"), self.browser.widget,
            w.HTML("<h3>2. Lookup</h3>"), self.lookup,
            w.HTML("<h3>3. De-identify and verify</h3>"), self.withdraw_unticked,
            self.deid_button, self.progress, self.findings,
            w.HTML("<h3>4. Review</h3>"), self.review,
            w.HTML("<h3>5. Approve or reject</h3>"), self.chosen,
            w.HBox([self.reviewer, self.approve_note]),
            w.HBox([self.approve_button, self.reject_button]),
            w.HTML("<h3>6. Push</h3>"), self.push.widget,
            self.states, self.next_step])
        classes({self.widget: "wb-curation-app", self.deid_button: "wb-deidentify",
                 self.approve_button: "wb-approve", self.reject_button: "wb-reject",
                 self.chosen: "wb-chosen-studies", self.states: "wb-study-states",
                 self.next_step: "wb-next-step"})
        self._update()

    # -- steps ---------------------------------------------------------------------------
    def deidentify(self) -> None:
        """De-identify and verify the selected series (a refusal is shown, not raised)."""
        chosen = set(self.browser.selected)
        if not chosen:
            self._say("Tick at least one series in step 1, then press De-identify.", "warning")
            return
        try:
            pending = self.browser.withdrawn_preview(self.out, self.store, self.profile) \
                if self.out.is_dir() else []
            if len(pending) and not self.withdraw_unticked.value:
                self._say(f"{len(pending)} series de-identified before are unticked now "
                          f"({', '.join(pending['folder'][:3])}): tick 'withdraw the output "
                          "of series unticked since a run' to move their output to "
                          f"{self.out.name}.withdrawn (never pushed), or tick them again; "
                          "then press De-identify.", "warning")
                return
            if len(pending):
                self.browser.withdraw(self.out, self.store, self.profile, confirm=True)
            headers = [i for i in self.instances if i.series_uid in chosen]
            self._check_protocol(headers)
            self._say("De-identifying and verifying ...")
            with bars_into(self.progress):
                self.report = deidentify_delivery(
                    self.source, self.out, self.profile, store=self.store,
                    lookup=self.lookup.value.strip() or None, site=self.site or None,
                    resume=True, headers=headers)
        except WorkbenchError as exc:
            self._say(f"Not de-identified: {notebook_words(exc)}", "error")
            return
        self._show_review()
        self.push.refresh()
        self._update()

    def approve(self) -> None:
        """Approve the chosen studies, as the reviewer (a refusal is shown, not raised)."""
        self._sign(APPROVED)

    def reject(self) -> None:
        """Reject the chosen studies, with the note saying why: they are not released."""
        self._sign(REJECTED)

    def _sign(self, verdict: str) -> None:
        word = "approved" if verdict == APPROVED else "rejected"
        button = "Approve" if verdict == APPROVED else "Reject"
        states = self._states()
        if not states:
            self._say("Nothing to sign off yet: de-identify first (step 3).", "warning")
            return
        blocked = [s for s in states if s.state.startswith("not approvable")]
        if not self.chosen.value and blocked:
            self._say(f"Not {word}: {len(blocked)} study(ies) cannot be signed off "
                      f"({blocked[0].state}: {blocked[0].reason}); see the table below.",
                      "warning")
            return
        if not self.chosen.value:
            self._say(f"Not {word}: choose the studies in step 5, then press {button}.",
                      "warning")
            return
        if not self.reviewer.value.strip():
            self._say(f"Not {word}: name yourself in the reviewer field, then press {button}.",
                      "warning")
            return
        if verdict == REJECTED and not self.approve_note.value.strip():
            self._say("Not rejected: say why in the note field, then press Reject.", "warning")
            return
        try:
            sign(self.store, self.profile.trial_key, self.out, list(self.chosen.value), verdict,
                 self.reviewer.value, self.approve_note.value)
        except WorkbenchError as exc:
            self._say(f"Not {word}: {notebook_words(exc)}", "error")
            return
        self.push.refresh()
        self._update()

    def refresh(self) -> None:
        """Read the studies' states again (after a push, or a sign-off made elsewhere)."""
        self.push.refresh()
        self._update()

    # -- what the app shows ----------------------------------------------------------------
    def _states(self):
        if not self.out.is_dir():
            return []
        return study_states(self.store, self.profile.trial_key, self.out)

    def _check_protocol(self, headers: list) -> None:
        """Check the selection against the trial protocol; record and show the result."""
        if self.protocol is None:
            return
        findings = check(headers, self.protocol, site=self.site or None)
        self.store.record_protocol_check(self.profile.trial_key, self.protocol.name,
                                         study_results(findings))
        shown = findings_table(findings).drop(columns=["study"])
        failed = int((shown["severity"] == "fail").sum())
        self.findings.value = (
            f"<h4>Protocol {html.escape(self.protocol.name)}</h4>"
            + note(f"{failed} check(s) failed: a study that fails cannot be approved."
                   if failed else "Every study fits the protocol.", "error" if failed else "info")
            + shown.to_html(index=False, escape=True))

    def _show_review(self) -> None:
        done = [o for o in self.report.outcomes if o.state in ("written", "unchanged")]
        held = self.report.quarantined
        shown = [w.HTML(self._held_html(held))] if held else []
        if not done:
            self.review.children = shown + [w.HTML(note("Nothing was released to review.",
                                                        "warning"))]
            return
        first = done[0]
        self.review.children = shown + [
            w.HTML(note(f"The tag diff of one released file ({first.output}); every attribute "
                        "before and after, and the rule that decided it.")),
            TagDiffView(first.source, self.out / first.output, self.profile).widget]

    def _held_html(self, held: list, shown: int = 20) -> str:
        """The quarantined files (first ``shown``), each with why, in the app's words."""
        rows = pd.DataFrame([{"file": os.path.relpath(o.source, self.source), "held as": o.kind,
                              "why": notebook_words(o.reason)} for o in held[:shown]])
        more = f" (the first {shown} shown)" if len(held) > shown else ""
        return (note(f"{len(held)} file(s) quarantined{more}: they stay at the site, and the "
                     "rest of their study can still be approved.", "warning")
                + rows.to_html(index=False, escape=True))

    def _update(self) -> None:
        states = self._states()
        approved = [s for s in states if s.state == APPROVED]
        signable = [s.folder for s in states if s.state in (WAITING, APPROVED, REJECTED)]
        chosen = [f for f in self.chosen.value if f in signable]
        self.chosen.options = signable
        self.chosen.value = chosen or [s.folder for s in states if s.state == WAITING]
        self.approve_button.disabled = self.reject_button.disabled = not signable
        self.push.push_button.disabled = not approved
        self.states.value = self._table(states)
        if not states:
            self._say("Check the ticks and the lookup, then press De-identify (step 3).")
        elif any(s.state == WAITING for s in states):
            self._say("Review the studies (step 4), then name yourself and press Approve "
                      "(step 5); only approved studies can be pushed.")
        elif approved:
            self._say("Press push (step 6): the approved studies go, confirmed file by file.")
        else:
            self._say("Every study is pushed, rejected or held; see the states above.")

    @staticmethod
    def _table(states) -> str:
        if not states:
            return ""
        return "<h4>Studies</h4>" + states_table(states).to_html(index=False, escape=True)

    def _say(self, text: str, kind: str = "info") -> None:
        self.next_step.value = note(text, kind)

    def static_html(self) -> str:
        """The selection, the studies' states and what comes next, for an executed notebook
        (no patient names, IDs, dates or original UIDs: the record may be shared)."""
        catalog = self.browser.catalog
        chosen = catalog[catalog["series_uid"].isin(set(self.browser.selected))].copy()
        chosen["study"] = pd.factorize(chosen["study_uid"])[0] + 1
        columns = ["study", "series_number", "modality", "description", "instances"]
        return ("<h3>Curation</h3>"
                f"<p>profile {html.escape(self.profile.name)}; output "
                f"{html.escape(str(self.out))}</p>"
                f"<h4>Selected series ({len(chosen)} of {len(catalog)})</h4>"
                + chosen[columns].to_html(index=False, escape=True)
                + self.progress.value + self.findings.value + self.states.value
                + (self.push.progress.value + self.push.status.value if self.push.result else "")
                + self.next_step.value)

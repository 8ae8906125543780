"""PushPanel: push verified studies to XNAT in a background thread, with pause, cancel, retry."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import ipywidgets as w
import pandas as pd

from ..errors import WorkbenchError
from ..profile import Profile, load_profile
from ..progress import bars_into
from ..push import PushController, PushResult, StudyOutcome, destination_for, plan
from ..push.destination import SEND
from ..push.result import HELD, PRESENT, UPLOADED
from ..store import Store
from .base import View, classes, note, notebook_words

STATUS_COLOURS = {UPLOADED: "#e8f5e9", PRESENT: "#e3f2fd", "failed": "#f8d7da",
                  "cancelled": "#fff3cd", "pending": "", "refused": "#f8d7da"}


class PushPanel(View):
    """Push an output folder's verified studies to XNAT while the notebook stays usable.

    The push runs in one background thread (which opens its own connection to the
    store), so the pause, resume and cancel buttons act while it works; a study that
    has started always finishes first.

    Parameters
    ----------
    out
        The output folder of ``workbench deid``.
    profile
        The profile that made it (its ``trial:`` block gives project and labels).
    store
        The state database that verified the outputs (a :class:`~workbench.store.Store`
        or its path).
    url, project
        Initial destination; by default the profile's ``xnat_url`` and ``xnat_project``.
    **options
        Passed to the destination, :func:`~workbench.push.destination_for` ``("xnat", ...)``
        (``receipts``, ``share_to``, ``overwrite``, ``attempts``, ``retry_wait``, ...).

    Attributes
    ----------
    destination, project : ipywidgets.Text
        XNAT URL and project ID (credentials come from the environment or ~/.netrc).
    push_button, pause_button, cancel_button, retry_button : ipywidgets.Button
        Start; pause or resume (the label says which); cancel before the next study;
        push again the studies that failed or were cancelled.
    progress : ipywidgets.HTML
        The push's progress bars (all of it, and the study uploading), kept as HTML.
    status : ipywidgets.HTML
        What the push is doing, or why it stopped.
    results : ipywidgets.HTML
        One row per study: status, reason, project, session.
    table : DataFrame
        The per-study rows shown (``pending`` before a push, then the outcome).
    result : PushResult or None
        The last finished push.
    """

    def __init__(self, out: str | os.PathLike, profile: Profile | str,
                 store: Store | str | os.PathLike, *, url: str | None = None,
                 project: str | None = None, **options):
        self.out = os.path.abspath(out)
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.store_path = store.path if isinstance(store, Store) else os.fspath(store)
        self.options = options
        self.controller = PushController()
        self.result: PushResult | None = None
        self._future: Future | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push")
        self._local = threading.local()
        self._lock = threading.Lock()
        trial = self.profile.trial
        self.destination = w.Text(value=url or str(trial.get("xnat_url") or ""),
                                  description="XNAT", placeholder="https://xnat.example.org",
                                  layout=w.Layout(width="420px"))
        self.project = w.Text(value=project or str(trial.get("xnat_project") or ""),
                              description="project")
        self.push_button = w.Button(description="push", button_style="primary", icon="upload")
        self.pause_button = w.Button(description="pause", icon="pause")
        self.cancel_button = w.Button(description="cancel", icon="stop")
        self.retry_button = w.Button(description="retry failed", icon="redo", disabled=True)
        self.progress = w.HTML()
        self.status = w.HTML()
        self.results = w.HTML()
        self.push_button.on_click(lambda _: self.start())
        self.pause_button.on_click(lambda _: self._pause())
        self.cancel_button.on_click(lambda _: self._cancel())
        self.retry_button.on_click(lambda _: self.start(retry=True))
        self.widget = w.VBox([
            w.HBox([self.destination, self.project]),
            w.HBox([self.push_button, self.pause_button, self.cancel_button, self.retry_button]),
            self.progress, self.status, self.results])
        classes({self.widget: "wb-push-panel", self.push_button: "wb-push",
                 self.pause_button: "wb-pause", self.cancel_button: "wb-cancel",
                 self.retry_button: "wb-retry", self.status: "wb-push-status",
                 self.results: "wb-push-results", self.progress: "wb-push-progress"})
        self.refresh()

    def refresh(self) -> None:
        """Read the output folder and the approvals again (after a run or a sign-off)."""
        self.table = self._pending()
        self._show_table()
        self.status.value = note(f"{len(self.table)} study folder(s) in {self.out}; ready.")

    # -- state ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a push runs in the background."""
        return self._future is not None and not self._future.done()

    def wait(self, timeout: float | None = None) -> PushResult | None:
        """Block until the running push ends; returns :attr:`result`."""
        if self._future is not None:
            self._future.result(timeout)
        return self.result

    def close(self) -> None:
        """Cancel a running push, wait for it, and stop the background thread."""
        self.controller.cancel()
        self._executor.shutdown(wait=True)

    # -- actions -------------------------------------------------------------------------
    def start(self, retry: bool = False) -> None:
        """Start a push (or, with ``retry``, push again what failed) in the background."""
        if self.busy:
            self.status.value = note("A push is already running.", "warning")
            return
        if retry and (self.result is None or not self.result.failed):
            self.status.value = note("Nothing to retry: no study failed.")
            return
        if self.controller.cancelled:
            self.controller = PushController()
        pending = ([o.study for o in self.result.failed] if retry else list(self.table["study"]))
        self._done, self._pending_count = 0, len(pending)
        self.push_button.disabled = self.retry_button.disabled = True
        self.status.value = note("Pushing " + ("the failed studies again" if retry else
                                               f"{len(pending)} studies") + " ...")
        self._future = self._executor.submit(self._run, retry)

    def _pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
            self.pause_button.description, self.pause_button.icon = "pause", "pause"
            self.status.value = note("Resumed." if self.busy else "Ready.")
        else:
            self.controller.pause()
            self.pause_button.description, self.pause_button.icon = "resume", "play"
            self.status.value = note("Paused: the push holds before its next study.")

    def _cancel(self) -> None:
        self.controller.cancel()
        self.pause_button.description, self.pause_button.icon = "pause", "pause"
        self.status.value = note("Cancelling: the current study finishes, the others are "
                                 "not started.", "warning")

    # -- the background thread -------------------------------------------------------------
    def _store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.store_path)
        return store

    def _run(self, retry: bool) -> None:
        with bars_into(self.progress):
            self._push(retry)

    def _push(self, retry: bool) -> None:
        try:
            if retry:
                result = self.result.retry_failed(self.controller)
            else:
                destination = destination_for(
                    "xnat", self.out, self.profile, store=self._store(),
                    url=self.destination.value.strip() or None,
                    project=self.project.value.strip() or None, controller=self.controller,
                    progress=True, on_study=self._on_study, **self.options)
                result = destination.push()
        except WorkbenchError as exc:
            self.status.value = note(f"The push stopped: {notebook_words(exc)}", "error")
        except Exception as exc:  # shown in the panel: a thread has no one to raise to
            self.status.value = note(f"The push stopped unexpectedly: {type(exc).__name__}: "
                                     f"{exc}", "error")
        else:
            self._finish(result)
        finally:
            self.push_button.disabled = False
            self.retry_button.disabled = not (self.result and self.result.failed)

    def _on_study(self, outcome: StudyOutcome) -> None:
        with self._lock:
            self._done += 1
            self._update(outcome)
            self.status.value = note(f"{self._done} of {self._pending_count} studies done; "
                                     f"last: {outcome.study} {outcome.status}.")

    def _finish(self, result: PushResult) -> None:
        with self._lock:
            self.result = result
            for outcome in result.outcomes:
                self._update(outcome)
            counts = result.table["status"].value_counts()
            held = int(counts.get(HELD, 0))
            failed = len(result.failed) - held
            self.status.value = note(
                f"Done: {counts.get(UPLOADED, 0)} uploaded, {counts.get(PRESENT, 0)} already "
                f"present, {failed} not pushed"
                + (f", {held} held (not approved; see their reasons)" if held else "")
                + ("; fix the reasons and press 'retry failed'" if failed else "")
                + f". Receipts: {result.receipt_csv}", "warning" if result.failed else "info")

    # -- the table -----------------------------------------------------------------------
    def _pending(self) -> pd.DataFrame:
        rows = []
        if os.path.isdir(self.out):
            store = Store(self.store_path)
            try:
                planned = plan(self.out, self.profile, store)
            finally:
                store.close()
            for item in planned:
                s = item.study
                rows.append({"pseudonym": s.subject_id, "study": s.name, "files": len(s.files),
                             "megabytes": round(s.size / 1e6, 2),
                             "status": "pending" if item.action == SEND else item.action,
                             "reason": item.reason})
        columns = ["pseudonym", "study", "files", "megabytes", "status", "reason", "project",
                   "session", "confirmed_by"]
        return pd.DataFrame(rows).reindex(columns=columns, fill_value="")

    def _update(self, outcome: StudyOutcome) -> None:
        at = self.table.index[self.table["study"] == outcome.study]
        values = {"status": outcome.status, "reason": outcome.reason,
                  "project": outcome.project, "session": outcome.session_label,
                  "confirmed_by": outcome.confirmed_by}
        for column, value in values.items():
            self.table.loc[at, column] = value
        self._show_table()

    def _show_table(self) -> None:
        if self.table.empty:
            self.results.value = note(f"No study folders in {self.out}: de-identify first.",
                                      "warning")
            return
        styler = self.table.style.hide(axis="index").apply(
            lambda row: [f"background-color: {STATUS_COLOURS.get(row['status'], '')}"]
            * len(row), axis=1)
        self.results.value = styler.to_html()


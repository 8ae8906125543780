"""Where verified studies go: the interface every destination implements, and its driver.

:meth:`Destination.push` runs the same steps for any destination: :func:`plan` the
output's studies, let only the released ones through (:meth:`Destination.release`),
``transfer`` and ``confirm`` each of them (destination specific, retried when a
failure may pass), then the receipts and the audit trail. Pause and cancel act
between studies.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm import tqdm

from ..errors import FileChanged, PushError
from ..profile import Profile, load_profile
from ..progress import progress_bar
from ..store import Store
from .control import PushController
from .local import LocalStudy, find_studies
from .result import CANCELLED, FAILED, HELD, PRESENT, UPLOADED, PushResult, StudyOutcome, \
    now_utc, write_receipts

SEND, REFUSED = "send", "refused"  # the other action of a plan is HELD


class Retry(Exception):
    """A step failed in a way that may pass: try the study again (``reconnect`` first)."""

    def __init__(self, reason: str, reconnect: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reconnect = reconnect


class StudyFailed(Exception):
    """A step failed for good for this study (the push goes on with the next one)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Planned:
    """One study of a push and what will happen to it.

    ``action`` is ``send`` (approved and verified), ``held`` (waits for a person:
    not approved, or rejected) or ``refused`` (a file not verified, or changed
    since); ``reason`` says why a study is not sent.
    """

    study: LocalStudy
    action: str
    reason: str = ""


def plan(out: str | os.PathLike, profile: Profile, store: Store,
         only: Iterable[str] | None = None) -> list[Planned]:
    """The study folders of ``out`` (or those named in ``only``) and what a push does with each."""
    studies = find_studies(Path(out).resolve(), store, profile)
    if only is not None:
        wanted = set(only)
        studies = [s for s in studies if s.name in wanted]
    return [Planned(s, REFUSED if s.refused else HELD if s.held else SEND,
                    s.refused or s.held or "") for s in studies]


@dataclass
class Job:
    """One released study on its way, shared by the steps and attempts of its push.

    ``target`` is what :meth:`Destination.locate` returned, ``prepared`` what
    :meth:`Destination.prepare` made ahead, ``arrived`` whatever ``transfer`` leaves
    for ``confirm``; ``sent`` is set by ``transfer`` when data was sent (uploaded,
    not already present).
    """

    study: LocalStudy
    outcome: StudyOutcome
    overall: tqdm
    target: Any = None
    prepared: Any = None
    arrived: Any = None
    sent: bool = False
    credited: int = 0  # bytes counted on the overall progress bar

    def advance(self, position: int) -> None:
        """Credit the overall progress bar with the study's bytes sent up to ``position``."""
        gain = min(position, self.study.size) - self.credited
        if gain > 0:
            self.credited += gain
            self.overall.update(gain)


class Destination(ABC):
    """Push the verified studies of one output folder to one destination.

    Subclasses implement :meth:`connect`, :meth:`locate`, :meth:`transfer` and
    :meth:`confirm` (and may override :meth:`prepare`, :meth:`reconnect`,
    :meth:`disconnect` and :meth:`settings`); :meth:`push` drives them.

    Parameters
    ----------
    out
        Output folder of ``workbench deid``.
    profile
        Profile name, path or :class:`~workbench.profile.Profile`.
    store
        The state database that verified the outputs.
    receipts
        Folder for the receipts (default ``OUT.receipts`` beside OUT; never inside OUT).
    controller
        A :class:`PushController` to pause, resume or cancel between studies.
    progress
        Show progress bars (overall and per study, bytes per second).
    on_study
        Called with each :class:`StudyOutcome` as soon as the study is done.
    attempts
        Attempts per study for errors that may pass.
    retry_wait
        Seconds before the second attempt; doubles for each further one.
    """

    def __init__(self, out: str | os.PathLike, profile: str | os.PathLike | Profile, *,
                 store: Store, receipts: str | os.PathLike | None = None,
                 controller: PushController | None = None, progress: bool = True,
                 on_study: Callable[[StudyOutcome], None] | None = None, attempts: int = 3,
                 retry_wait: float = 2.0) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.out = Path(out).resolve()
        if not self.out.is_dir():
            raise PushError(f"output folder {self.out} does not exist; run workbench deid first.")
        self.receipts = (Path(receipts).resolve() if receipts
                         else self.out.parent / f"{self.out.name}.receipts")
        if self.receipts == self.out or self.out in self.receipts.parents:
            raise PushError(f"receipts folder {self.receipts} is inside the output {self.out}; "
                            "choose a folder outside it.")
        self.store = store
        self.controller = controller or PushController()
        self.progress, self.on_study = progress, on_study
        self.attempts, self.retry_wait = max(1, attempts), retry_wait

    # ------------------------------------------------------------------ destination specific
    @abstractmethod
    def connect(self) -> str:
        """Open the destination for a push; return how receipts name it (no credentials).

        Raises :class:`~workbench.errors.PushError` when the push cannot start.
        """

    def disconnect(self) -> None:
        """Close what :meth:`connect` opened (also after a failed push)."""

    def reconnect(self) -> None:
        """Open the destination again before an attempt after ``Retry(reconnect=True)``."""

    def settings(self) -> dict[str, Any]:
        """The destination's settings for the receipts' header."""
        return {}

    def prepare(self, study: LocalStudy, folder: Path) -> Any:
        """Work on a released study ahead of its turn, in a background thread (kept in
        ``job.prepared``); ``folder`` is the study's own scratch folder."""
        return None

    @abstractmethod
    def locate(self, job: Job) -> Any:
        """Where the study goes (kept in ``job.target``); fills the outcome's labels."""

    @abstractmethod
    def transfer(self, job: Job) -> None:
        """Send what the destination does not hold yet of the study (set ``job.sent``)."""

    @abstractmethod
    def confirm(self, job: Job) -> None:
        """Read back what arrived and compare it with the study, file by file.

        Fills ``confirmed_by`` and ``file_records`` of the outcome; raises
        :class:`Retry` when something is missing.
        """

    # ------------------------------------------------------------------ shared
    def release(self, item: Planned, outcome: StudyOutcome) -> bool:
        """The gate: True for a study a person approved and whose files are verified.

        A held study stays (its outcome says ``held``); a refused one fails. Every
        byte that leaves is checked again against its verified SHA-256 as it is read
        (:func:`~workbench.push.local.verified_chunks`).
        """
        if item.action == REFUSED:
            raise StudyFailed(item.reason)
        if item.action == HELD:
            outcome.status, outcome.reason = HELD, item.reason
        return item.action == SEND

    def scratch(self) -> tempfile.TemporaryDirectory:
        """A temporary folder beside OUT (same disk, not RAM-backed /tmp); clean it up after use."""
        return tempfile.TemporaryDirectory(prefix=f".{self.out.name}.push-", dir=self.out.parent)

    def push(self, only: Iterable[str] | None = None,
             controller: PushController | None = None) -> PushResult:
        """Push every study of the output folder (or those named in ``only``).

        Parameters
        ----------
        only
            Study keys (``<subject_id>/<study_dir>``, the ``study`` column) to push.
        controller
            Controller for this push instead of the destination's own.

        Raises
        ------
        PushError
            When the push cannot start (no studies, no credentials, login refused,
            destination unreachable) or the login is refused again mid-batch.
        """
        trial = self.profile.trial_key
        controller = controller or self.controller
        items = plan(self.out, self.profile, self.store, only)
        if not items and only is None:
            raise PushError(f"no study folders in {self.out}; run workbench deid first.")
        header = {"server": self.connect(), "profile": self.profile.name,
                  "profile_hash": self.profile.hash, **self.settings(), "started": now_utc()}
        self.store.audit(trial, "push-start", {**header, "studies": len(items)})
        outcomes: list[StudyOutcome] = []
        finished = 0
        overall = progress_bar(total=sum(i.study.size for i in items), unit="B",
                               unit_scale=True, unit_divisor=1024, desc="push",
                               enabled=self.progress)
        scratch = self.scratch()
        worker = ThreadPoolExecutor(1, thread_name_prefix="workbench-prepare")
        ahead: dict[int, Future] = {}

        def prepare(index: int) -> None:
            """Prepare study ``index`` in the background while the one before it transfers."""
            if index < len(items) and items[index].action == SEND:
                folder = Path(scratch.name) / f"study{index}"
                folder.mkdir()
                ahead[index] = worker.submit(self.prepare, items[index].study, folder)

        try:
            prepare(0)
            for index, item in enumerate(items):
                study = item.study
                if not controller.checkpoint():
                    outcome = StudyOutcome(study.subject_id, study.name, study.study_uid,
                                           len(study.files), study.size, CANCELLED,
                                           "push cancelled before this study")
                else:
                    prepare(index + 1)
                    outcome = self._push_study(item, ahead.pop(index, None), overall)
                    shutil.rmtree(Path(scratch.name) / f"study{index}", ignore_errors=True)
                outcomes.append(outcome)
                finished += study.size
                overall.update(finished - overall.n)
                counts = {s: sum(o.status == s for o in outcomes) for s in (UPLOADED, PRESENT)}
                overall.set_postfix(uploaded=counts[UPLOADED], present=counts[PRESENT],
                                    failed=len(outcomes) - sum(counts.values()))
                self.store.audit(trial, "push-study", {
                    "study_uid": outcome.study_uid, "subject_id": outcome.pseudonym,
                    "status": outcome.status, "project": outcome.project,
                    "session": outcome.session_label, "reason": outcome.reason})
                if self.on_study is not None and outcome.status != CANCELLED:
                    self.on_study(outcome)
        finally:
            worker.shutdown(cancel_futures=True)
            scratch.cleanup()
            overall.close()
            self.disconnect()
            header["finished"] = now_utc()
            receipt_csv, receipt_json = write_receipts(self.receipts, header, outcomes)
            self.store.audit(trial, "push-end", {
                "studies": len(outcomes), "done": sum(o.done for o in outcomes),
                "receipt": receipt_json.name})
        return PushResult(outcomes, receipt_csv, receipt_json, self.push)

    def _push_study(self, item: Planned, prepared: Future | None,
                    overall: tqdm) -> StudyOutcome:
        study = item.study
        outcome = StudyOutcome(study.subject_id, study.name, study.study_uid, len(study.files),
                               study.size)
        started = time.monotonic()
        try:
            if not self.release(item, outcome):
                return outcome
            job = Job(study, outcome, overall)
            job.target = self.locate(job)
            job.prepared = prepared.result()
            try:
                self._attempts(job)
            finally:
                if all(f.md5 for f in study.files):
                    outcome.files_digest = study.manifest_digest()
        except StudyFailed as exc:
            outcome.status, outcome.reason = FAILED, exc.reason
        except FileChanged as exc:
            outcome.status, outcome.reason = FAILED, str(exc)
        outcome.seconds = time.monotonic() - started
        outcome.pushed_at = now_utc()
        return outcome

    def _attempts(self, job: Job) -> None:
        """Transfer and confirm the study, again after a failure that may pass."""
        reconnect, reasons = False, []
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.retry_wait * 2 ** (attempt - 1))
            try:
                if reconnect:
                    self.reconnect()
                self.transfer(job)
                self.confirm(job)
                job.outcome.status = UPLOADED if job.sent else PRESENT
                if reasons:
                    job.outcome.reason = (f"done on attempt {attempt + 1} after: "
                                          f"{'; '.join(reasons)}")
                return
            except Retry as exc:
                reconnect = exc.reconnect
                reasons.append(exc.reason)
        raise StudyFailed(f"{reasons[-1]} (gave up after {self.attempts} attempts; re-run the "
                          "same push to complete it)")

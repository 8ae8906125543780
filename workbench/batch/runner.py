"""A whole batch run: survey, decide per study, de-identify, push, record.

Examples
--------
>>> from workbench.batch import BatchSettings, run_batch
>>> result = run_batch(BatchSettings(profile="uk-pet-core-lab", source="delivery",
...                                  output="out", lookup="subjects.csv",
...                                  workers=2))                      # doctest: +SKIP
>>> result.table                                                      # doctest: +SKIP
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from ..deid.delivery import INSTANCE
from ..deid.pseudonyms import Lookup
from ..deid.run import Outcome, Report, deidentify_delivery
from ..store import Store
from .dispatch import StudyDispatcher, without_source
from ..errors import BatchError
from .executors import describe, open_workers
from .ledger import FAILED, NOT_SELECTED, QUARANTINED, RUNNING, VERIFIED, Entry, Ledger
from .plan import RETRY, Decision, decide, move_away, remove_partials, superseded_folder
from .record import COLUMNS, RunRecord, StudyRow, git_commit, new_run_dir, totals, versions
from .release import PUSH_FAILED, WAITING, Pushed, release
from .settings import BatchSettings
from .survey import Survey, sha256_file, study_ref, survey

CHANGED_AFTER_PUSH = "changed after push"


@dataclass
class BatchResult:
    """The outcome of a batch run.

    Attributes
    ----------
    run_dir
        The run's record folder.
    status
        ``finished``, ``failed`` or ``interrupted``.
    message
        What went wrong and what to do (empty when nothing did).
    rows
        One :class:`~workbench.batch.record.StudyRow` per study of the delivery.
    report
        The de-identification report of the studies done in this run (None if none were).
    """

    run_dir: Path
    status: str
    message: str
    rows: list[StudyRow] = field(default_factory=list)
    report: Report | None = None

    @property
    def table(self) -> pd.DataFrame:
        """One row per study: reference, pseudonym, output folder, state, action, counts, push."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=COLUMNS)

    @property
    def totals(self) -> pd.DataFrame:
        """Studies and files per state."""
        found = totals(self.rows)
        return pd.DataFrame([{"state": k, **v} for k, v in found.items()])

    @property
    def held(self) -> list[StudyRow]:
        """Studies a person must look at: quarantined files, changed after the push, or
        waiting for a person's approval before the push."""
        return [r for r in self.rows if r.state in (QUARANTINED, CHANGED_AFTER_PUSH)
                or r.pushed == WAITING]

    @property
    def exit_code(self) -> int:
        """1 when the run failed, 2 when it finished but holds studies for a person, else 0."""
        return 1 if self.status != "finished" else 2 if self.held else 0

    def raise_if_failed(self) -> None:
        """Raise :class:`BatchError` with the message when the run did not finish."""
        if self.status != "finished":
            raise BatchError(self.message)


def run_batch(settings: BatchSettings, *, store: Store | None = None,
              secret: bytes | None = None, executor: Executor | None = None,
              start_method: str | None = None, scheduler_timeout: float = 30.0,
              progress: bool = True,
              on_study: Callable[[StudyRow], None] | None = None) -> BatchResult:
    """Run a batch: every study of ``settings.source`` done once, recorded, pushed once.

    Parameters
    ----------
    settings
        The run's parameters (checked first).
    store
        The state database (default: ``settings.store``).
    secret
        The trial secret (default: the store's).
    executor
        A ``concurrent.futures`` executor to run on instead of one made from
        ``settings.workers`` / ``settings.scheduler``.
    start_method
        Start method of the local process pool (``spawn`` as on Windows).
    scheduler_timeout
        Seconds to reach the Dask scheduler, and to wait for it if it goes away.
    progress
        Show progress bars.
    on_study
        Called with each study's row as soon as the study is finished.

    Returns
    -------
    BatchResult
        Also when studies failed in a worker or a push failed (``status`` says so).

    Raises
    ------
    BatchError
        When the run cannot start or stops midway (e.g. its workers or scheduler
        went away); the record is written first.
    """
    settings, profile = settings.checked()
    store = store if store is not None else Store(settings.store or None)
    trial = profile.trial_key
    record = RunRecord(settings.run_dir or new_run_dir("runs", trial))
    record.begin(trial=trial, parameters=settings.public(), versions=versions(), git=git_commit(),
                 profile={"name": profile.name, "hash": profile.hash,
                          "file_sha256": sha256_file(str(profile.path))})
    run = _Run(settings, store, record, Ledger(store, trial, settings.output), on_study)
    run.ledger.audit("batch-start", {"run_id": record.run_id, "profile_hash": profile.hash})
    try:
        with open_workers(settings.workers, settings.scheduler, executor=executor,
                          start_method=start_method, timeout=scheduler_timeout) as workers:
            record.manifest["executor"] = workers.description
            record.save_manifest()
            run.survey = survey(Path(settings.source), workers.executor, workers.slots, progress)
            run.secret = secret or store.trial_secret(trial)
            table = (Lookup.for_profile(settings.lookup, profile)
                     if settings.lookup else None)
            entries = run.ledger.entries()
            _check_output(Path(settings.output), entries)
            run.decisions = decide(run.survey.studies, entries, Path(settings.output), profile,
                                   table, settings.site, record.run_id)
            run.prepare(entries)
            todo = {uid: d.entry for uid, d in run.decisions.items() if d.todo}
            if todo:
                dispatcher = StudyDispatcher(workers, todo, run.ledger, store, profile,
                                             settings.source, run.finished, progress)
                run.dispatcher = dispatcher
                run.report = deidentify_delivery(
                    settings.source, settings.output, profile, store=store, secret=run.secret,
                    lookup=settings.lookup or None, site=settings.site or None,
                    workers=workers.slots, resume=True, executor=workers.executor,
                    progress=False, headers=run.survey.delivery,
                    dispatch=dispatcher)
                run.settle(todo)
                if dispatcher.broken is not None:
                    done = sum(e.state != FAILED for e in dispatcher.entries.values())
                    raise BatchError(f"the run stopped: {describe(dispatcher.broken)}; "
                                     f"{done} of {len(todo)} studies were finished and are "
                                     "recorded; run the batch again to complete the rest.")
            run.pushes = release(settings, profile, store, run.ledger, run.entries, progress,
                                 record.run_id)
            run.status = "finished"
    except KeyboardInterrupt:
        run.status, run.message = "interrupted", ("interrupted: finished studies are recorded; "
                                                  "run the batch again to complete the rest.")
        raise
    except Exception as exc:
        run.message = without_source(str(exc), settings.source)
        raise
    finally:
        run.close()
    return run.result()


@dataclass
class _Run:
    """The state of one run, from which its record is written whatever happens."""

    settings: BatchSettings
    store: Store
    record: RunRecord
    ledger: Ledger
    on_study: Callable[[StudyRow], None] | None
    survey: Survey | None = None
    secret: bytes = b""
    decisions: dict[str, Decision] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)  # latest entry per study
    pushes: dict[str, Pushed] = field(default_factory=dict)
    dispatcher: StudyDispatcher | None = None
    report: Report | None = None
    status: str = "failed"
    message: str = ""
    rows: list[StudyRow] = field(default_factory=list)

    def prepare(self, earlier: dict[str, Entry]) -> None:
        """Move old outputs of changed studies away, clear half-written files, mark holds."""
        out = Path(self.settings.output)
        for uid, d in self.decisions.items():
            self.entries[uid] = d.entry
            if d.supersede:
                move_away(out, d.supersede, self.record.run_id)
            elif d.kind == RETRY:
                remove_partials(out, earlier[uid].output)
        self.ledger.put([d.entry for uid, d in self.decisions.items()
                         if not d.todo and d.entry.flag != earlier[uid].flag])
        if any(d.supersede for d in self.decisions.values()):
            self.record.manifest["superseded_to"] = str(superseded_folder(out,
                                                                          self.record.run_id))

    def finished(self, entry: Entry, outcomes: list[Outcome]) -> None:
        """A study is done (called by the dispatcher): into the running record."""
        self.entries[entry.study_uid] = entry
        row = self.row(entry.study_uid)
        self.record.add(row)
        if self.on_study is not None:
            self.on_study(row)

    def settle(self, todo: dict[str, Entry]) -> None:
        """Final entries of the studies done now, counting files quarantined while planning."""
        changed = []
        for uid, entry in todo.items():
            entry = self.dispatcher.entries.get(uid, entry)
            if entry.state == FAILED:
                continue
            row = self.report.by_study.get(uid)
            held = row["quarantined"] if row else 0
            settled = replace(
                entry, state=QUARANTINED if held else VERIFIED if row else NOT_SELECTED,
                deidentified=row["written"] + row["unchanged"] if row else 0, quarantined=held,
                detail=row["reasons"] if held else "" if row else
                "no series selected by the profile")
            if settled != entry or entry.state == RUNNING:
                changed.append(settled)
            self.entries[uid] = settled
        self.ledger.put(changed)

    def row(self, uid: str) -> StudyRow:
        decision = self.decisions[uid]
        entry = self.entries.get(uid, decision.entry)
        push = self.pushes.get(uid)
        state = (CHANGED_AFTER_PUSH if entry.flag else
                 "not finished" if entry.state == RUNNING else entry.state)
        return StudyRow(
            study_ref=study_ref(self.secret, uid), subject_id=entry.subject_id,
            study=entry.output, state=state, action=decision.action, files=entry.inputs.files,
            deidentified=entry.deidentified, quarantined=entry.quarantined,
            pushed=push.status if push else "",
            session=push.session if push else entry.pushed,
            reason=entry.flag or (push.reason if push and push.reason else entry.detail))

    def close(self) -> None:
        """Write the final record (also after a failure) and the audit entry."""
        self.rows = sorted((self.row(uid) for uid in self.decisions),
                           key=lambda r: (r.subject_id, r.study, r.study_ref))
        failed = [r for r in self.rows if r.state in (FAILED, "not finished")
                  or r.pushed == PUSH_FAILED]
        if self.status == "finished" and failed:
            self.status = "failed"
            self.message = (f"{len(failed)} study(ies) failed (see the reason column of "
                            "studies.csv); run the batch again to retry them.")
        self.record.finish(self.rows, self.survey.identities if self.survey else (),
                           status=self.status, message=self.message, inputs=self._inputs(),
                           outputs=self._outputs())
        self.ledger.audit("batch-end", {"run_id": self.record.run_id, "status": self.status,
                                        "studies": len(self.rows)})

    def _inputs(self) -> dict:
        if self.survey is None:
            return {}
        found: dict = {"studies": {
            study_ref(self.secret, uid): {"files": study.files, "sources": study.sources}
            for uid, study in self.survey.studies.items()}}
        found["other_files"] = dict(sorted(self.survey.other_files.items()))
        found["files"] = self.survey.files
        found["instances"] = self.survey.instances
        if self.settings.lookup:
            found["lookup_sha256"] = sha256_file(self.settings.lookup)
        return found

    def _outputs(self) -> dict:
        studies = {study_ref(self.secret, uid): {"study": e.output, "digest": e.outputs_digest}
                   for uid, e in self.entries.items() if e.outputs_digest}
        return {"studies": studies, **self.record.write_checksums(self._checksums())}

    def _checksums(self) -> Iterator[tuple[str, str, str, str]]:
        """``(role, study reference, name, SHA-256)`` of every source file and of every
        output written or confirmed now, sorted (read from the delivery on disk)."""
        if self.survey is None:
            return
        files = self.survey.delivery
        files.db.create_function("study_ref", 1, lambda uid: study_ref(self.secret, uid),
                                 deterministic=True)
        yield from files.query(
            "SELECT 'source', study_ref(study_uid), '', digest FROM files WHERE kind = ? "
            "ORDER BY 2, 4", (INSTANCE,))
        yield from files.query("SELECT 'other source', '', kind, digest FROM files "
                               "WHERE kind != ? ORDER BY 3, 4", (INSTANCE,))
        yield from files.query("SELECT 'output', study_ref(study_uid), output, digest "
                               "FROM outcomes WHERE digest != '' ORDER BY 3")

    def result(self) -> BatchResult:
        return BatchResult(self.record.folder, self.status, self.message, self.rows, self.report)


def _check_output(out: Path, entries: dict[str, Entry]) -> None:
    if not entries and out.is_dir() and any(out.iterdir()):
        raise BatchError(f"output folder {out} already holds files that no batch run wrote "
                         "there; choose an empty folder (a batch completes its own output "
                         "run after run).")

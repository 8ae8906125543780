"""Run a batch's planned files study by study, and record each study as it finishes.

:func:`workbench.deid.run.deidentify_delivery` plans the whole delivery (the same
plan whatever was done before, so pseudonyms, UIDs and file names never depend
on what a run skips) and hands the tasks to a :class:`StudyDispatcher`. The
dispatcher keeps the tasks of the studies this run must do, sends them to the
workers in chunks, and, as soon as every chunk of a study is back, records the
study in the store (outputs, study state, ledger): a batch killed midway keeps
every study it finished. A chunk that raises in its worker fails its study
only; the other studies go on.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from ..progress import progress_bar

from ..deid.run import Outcome, Report, Task, summarise, process
from ..profile import Profile
from ..store import Store
from .executors import AHEAD, Workers, completions, describe, is_broken
from .ledger import FAILED, RUNNING, Entry, Ledger
from .survey import sha256_file

MAX_CHUNK = 128
DONE_FILES = ("written", "unchanged")
WORKER_FAILED = "worker failed"


def process_chunk(tasks: list[Task]) -> list[tuple[Outcome, str]]:
    """De-identify a chunk of one study's files; each outcome with its output's SHA-256."""
    found = []
    for task in tasks:
        outcome = process(task)
        digest = ""
        if outcome.state in DONE_FILES:
            digest = sha256_file(str(Path(task.job.out) / task.output))
        found.append((outcome, digest))
    return found


def shared(outcome: Outcome, task: Task, known: dict[str, str]) -> Outcome:
    """``outcome`` holding the coordinator's strings, not a worker's copies of them.

    ``known`` holds the new study UIDs met so far, one string per study.
    """
    outcome.source, outcome.study_uid = task.source, task.study_uid
    if outcome.output == task.output:
        outcome.output = task.output
    outcome.study_uid_out = known.setdefault(outcome.study_uid_out, outcome.study_uid_out)
    return outcome


def without_source(text: str, source: str) -> str:
    """``text`` with every path under the source folder replaced (such paths may name patients)."""
    pattern = re.escape(source.rstrip("/\\")) + r"[^\s'\"]*"
    return re.sub(pattern, "<source file>", text)


def study_key(task: Task) -> str:
    """``<subject_id>/<study_dir>``: the study's folder in the output, as the push names it."""
    return "/".join(task.output.split("/")[:2])


def outputs_digest(checksums: dict[str, str], paths: list[str]) -> str:
    """SHA-256 over the sorted ``<path> <sha256>`` lines of a study's outputs."""
    lines = sorted(f"{p} {checksums[p]}\n" for p in paths if p in checksums)
    return hashlib.sha256("".join(lines).encode()).hexdigest() if lines else ""


class StudyDispatcher:
    """The ``dispatch`` of a batch: runs the studies in ``todo`` and records each one.

    Parameters
    ----------
    workers
        The open executor.
    todo
        Ledger entries (with this run's inputs) of the studies to do, by source UID.
    ledger, store, profile
        Where and under which profile studies are recorded.
    source
        The source folder, kept out of failure messages (its paths may name patients).
    on_study
        Called in the coordinator with each finished study's entry and outcomes.
    progress
        Show a tqdm bar over the files.
    """

    def __init__(self, workers: Workers, todo: dict[str, Entry], ledger: Ledger, store: Store,
                 profile: Profile, source: str,
                 on_study: Callable[[Entry, list[Outcome]], None], progress: bool) -> None:
        self.workers, self.todo, self.ledger, self.store = workers, todo, ledger, store
        self.profile, self.on_study, self.progress = profile, on_study, progress
        self.source = source
        self.entries: dict[str, Entry] = {}  # finished studies
        self.checksums: dict[str, str] = {}  # output path (relative) -> SHA-256
        self.broken: BaseException | None = None

    def __call__(self, tasks: list[Task]) -> Iterator[Outcome]:
        by_study: dict[str, list[Task]] = {}
        for t in tasks:
            if t.study_uid in self.todo:
                by_study.setdefault(t.study_uid, []).append(t)
        self.ledger.put([replace(self.todo[uid], state=RUNNING, output=study_key(ts[0]),
                                 subject_id=ts[0].subject.subject_id)
                         for uid, ts in by_study.items()])
        total = sum(map(len, by_study.values()))
        size = max(1, min(MAX_CHUNK, math.ceil(total / (self.workers.slots * 4))))
        chunks: list[list[Task]] = []
        of_study: dict[str, list[int]] = {}
        for uid, ts in by_study.items():
            of_study[uid] = list(range(len(chunks), len(chunks) + math.ceil(len(ts) / size)))
            chunks += [ts[i:i + size] for i in range(0, len(ts), size)]
        results: dict[int, list[Outcome]] = {}  # until yielded, in task order
        back: dict[str, dict[int, list[Outcome]]] = {}  # by study, until it is finished
        new_uids: dict[str, str] = {}
        failures: dict[str, str] = {}
        following = 0
        with progress_bar(total=total, desc="de-identify", unit="file",
                          enabled=self.progress) as bar:
            for index, result, error in completions(self.workers.executor, process_chunk, chunks,
                                                      AHEAD * self.workers.slots):
                chunk = chunks[index]
                uid = chunk[0].study_uid
                if error is not None:
                    if is_broken(error) and self.broken is None:
                        self.broken = error
                    reason = f"{WORKER_FAILED}: {without_source(describe(error), self.source)}"
                    failures.setdefault(uid, reason)
                    results[index] = [Outcome(t.source, uid, "quarantined", None, reason)
                                      for t in chunk]
                else:
                    results[index] = [shared(o, t, new_uids) for t, (o, _) in zip(chunk, result)]
                    self.checksums.update((t.output, d) for t, (_, d) in zip(chunk, result) if d)
                bar.update(len(chunk))
                back.setdefault(uid, {})[index] = results[index]
                if len(back[uid]) == len(of_study[uid]):
                    outcomes = [o for i in of_study.pop(uid) for o in back[uid].pop(i)]
                    del back[uid]
                    self._finish(uid, by_study.pop(uid), outcomes, failures.get(uid))
                while following in results:
                    yield from results.pop(following)
                    following += 1

    def _finish(self, uid: str, tasks: list[Task], outcomes: list[Outcome],
                failure: str | None) -> None:
        entry = replace(self.todo[uid], output=study_key(tasks[0]),
                        subject_id=tasks[0].subject.subject_id)
        if failure:
            entry = replace(entry, state=FAILED, detail=failure)
        else:
            report = Report(self.profile.name, self.profile.hash, str(tasks[0].job.out),
                            str(tasks[0].job.quarantine), outcomes=outcomes)
            summarise(report, tasks, self.profile, self.store)
            row = report.studies[0]
            entry = replace(entry, state=row["state"], quarantined=row["quarantined"],
                            deidentified=row["written"] + row["unchanged"],
                            detail=row["reasons"],
                            outputs_digest=outputs_digest(self.checksums,
                                                          [t.output for t in tasks]))
        self.entries[uid] = entry
        self.ledger.put([entry])
        self.on_study(entry, outcomes)

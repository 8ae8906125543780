"""Run a batch's planned files study by study, and record each study as it finishes.

:func:`workbench.deid.run.deidentify_delivery` plans the whole delivery (the same
plan whatever was done before, so pseudonyms, UIDs and file names never depend
on what a run skips) and hands the tasks to a :class:`StudyDispatcher`. The
dispatcher keeps the tasks of the studies this run must do, sends them to the
workers in chunks (small studies share one), and, as soon as every chunk of a
study is back, records the study in the store (outputs, study state, ledger): a
batch killed midway keeps every study it finished. A study whose processing
raises in its worker fails alone; the other studies go on. A chunk lost with its
worker fails the studies in it.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterator

from ..progress import progress_bar

from ..deid.run import Outcome, Task, Tally, process
from ..profile import Profile
from ..store import Store
from .executors import AHEAD, Workers, completions, describe, is_broken
from .ledger import FAILED, RUNNING, Entry, Ledger

MAX_CHUNK = 128
WORKER_FAILED = "worker failed"


def process_chunk(tasks: list[Task]) -> list[Outcome]:
    """De-identify a chunk (whole studies, or part of one).

    Something raised while doing a study (its output cannot be written, say)
    fails that study only: its files get the reason, the chunk's other studies go on.
    """
    found = []
    for uid, group in groupby(tasks, key=lambda t: t.study_uid):
        group = list(group)
        try:
            found += [process(task) for task in group]
        except Exception as exc:
            reason = f"{WORKER_FAILED}: {describe(exc)}"
            found += [Outcome(t.source, uid, "quarantined", None, reason, kind=WORKER_FAILED)
                      for t in group]
    return found


def without_source(text: str, source: str) -> str:
    """``text`` with every path under the source folder replaced (such paths may name patients)."""
    pattern = re.escape(source.rstrip("/\\")) + r"[^\s'\"]*"
    return re.sub(pattern, "<source file>", text)


def study_key(task: Task) -> str:
    """``<subject_id>/<study_dir>``: the study's folder in the output, as the push names it."""
    return "/".join(task.output.split("/")[:2])


def outputs_digest(outcomes: list[Outcome]) -> str:
    """SHA-256 over the sorted ``<path> <sha256>`` lines of a study's outputs."""
    lines = sorted(f"{o.output} {o.digest}\n" for o in outcomes if o.digest)
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
        self.broken: BaseException | None = None

    def __call__(self, tasks: Iterator[Task], total: int) -> Iterator[Outcome]:
        files = sum(e.inputs.files for e in self.todo.values())
        size = max(1, min(MAX_CHUNK, math.ceil(files / (self.workers.slots * AHEAD))))
        studies: dict[str, list[Task]] = {}  # by study, from its first chunk out until finished
        expected: dict[str, int] = {}  # chunks per study
        results: dict[int, list[Outcome]] = {}  # until yielded, in task order
        back: dict[str, dict[int, list[Outcome]]] = {}  # by study, until it is finished
        failures: dict[str, str] = {}
        following = 0
        chunks = self._chunks(tasks, size, studies, expected)
        with progress_bar(total=files, desc="de-identify", unit="file",
                          enabled=self.progress) as bar:
            for index, chunk, result, error in completions(self.workers.executor, process_chunk,
                                                             chunks, AHEAD * self.workers.slots):
                if error is not None:
                    if is_broken(error) and self.broken is None:
                        self.broken = error
                    reason = f"{WORKER_FAILED}: {describe(error)}"
                    result = [Outcome(t.source, t.study_uid, "quarantined", None, reason,
                                      kind=WORKER_FAILED) for t in chunk]
                for o in result:
                    if o.kind == WORKER_FAILED:
                        o.reason = without_source(o.reason, self.source)
                        failures.setdefault(o.study_uid, o.reason)
                results[index] = result
                bar.update(len(chunk))
                for uid, part in groupby(result, key=lambda o: o.study_uid):
                    back.setdefault(uid, {})[index] = list(part)
                    if len(back[uid]) == expected[uid]:
                        done = back.pop(uid)
                        outcomes = [o for i in sorted(done) for o in done[i]]
                        self._finish(uid, studies.pop(uid), outcomes, failures.pop(uid, None))
                while following in results:
                    yield from results.pop(following)
                    following += 1

    def _chunks(self, tasks: Iterator[Task], size: int, studies: dict[str, list[Task]],
                expected: dict[str, int]) -> Iterator[list[Task]]:
        """The tasks of the studies to do in chunks of about ``size``, taken as they are needed.

        A study of ``size`` files or more is split into chunks of its own; smaller
        studies share a chunk, whole. Each study is marked running in the ledger
        when its first chunk is made.
        """
        shared: list[Task] = []
        for uid, group in groupby(tasks, key=lambda t: t.study_uid):
            if uid not in self.todo:
                continue
            studies[uid] = group = list(group)
            expected[uid] = math.ceil(len(group) / size)
            self.ledger.put([replace(self.todo[uid], state=RUNNING, output=study_key(group[0]),
                                     subject_id=group[0].subject.subject_id)])
            if len(group) < size:
                shared += group
                if len(shared) >= size:
                    yield shared
                    shared = []
                continue
            for i in range(0, len(group), size):
                yield group[i:i + size]
        if shared:
            yield shared

    def _finish(self, uid: str, tasks: list[Task], outcomes: list[Outcome],
                failure: str | None) -> None:
        entry = replace(self.todo[uid], output=study_key(tasks[0]),
                        subject_id=tasks[0].subject.subject_id)
        if failure:
            entry = replace(entry, state=FAILED, detail=failure)
        else:
            tally = Tally(Path(tasks[0].job.out), self.profile, self.store)
            tally.note(tasks[0])
            for outcome in outcomes:
                tally.add(outcome)
            row = tally.close()[uid]
            entry = replace(entry, state=row["state"], quarantined=row["quarantined"],
                            deidentified=row["written"] + row["unchanged"],
                            detail=row["reasons"], outputs_digest=outputs_digest(outcomes))
        self.entries[uid] = entry
        self.ledger.put([entry])
        self.on_study(entry, outcomes)

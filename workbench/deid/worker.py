"""The worker's task: read, de-identify, verify and write one file.

:func:`process` runs in any worker process (or in the coordinator's own, with one
worker). Workers share only the run's :class:`Job`; a file that is not verified
goes to the quarantine, which only its owner may open.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .. import verify
from ..dicomio import get_value
from ..errors import WorkbenchError
from ..profile import load_profile
from .delivery import Outcome
from .engine import Engine, Subject
from .files import output_bytes_equal, read_source, source_pixels, write_output
from .pixels import pixel_review_reason


@dataclass(frozen=True)
class Job:
    """What every worker of one run shares: profile, secret and folders."""

    profile: str  # path of the profile's YAML
    secret: bytes
    out: str
    quarantine: str


@dataclass
class Task:
    """One file for a worker: where it comes from, where it goes, whose it is."""

    source: str
    output: str  # relative to the output folder
    study_uid: str
    subject: Subject
    job: Job


_ENGINES: dict[Job, Engine] = {}


def _engine(job: Job) -> Engine:
    engine = _ENGINES.get(job)
    if engine is None:
        engine = _ENGINES[job] = Engine(load_profile(job.profile), job.secret)
    return engine


def process(task: Task) -> Outcome:
    """Read, de-identify, verify and write one file (runs in any worker process).

    Any failure becomes a quarantine reason for this file; the batch goes on.
    """
    try:
        return _process(task)
    except WorkbenchError:
        raise
    except Exception as exc:
        return _quarantine_input(task, "internal error", f"internal error, file not released: "
                                       f"{type(exc).__name__}: {exc}")


def _process(task: Task) -> Outcome:
    engine = _engine(task.job)
    profile = engine.profile
    try:
        source = read_source(task.source)
    except Exception as exc:
        return _quarantine_input(task, "unreadable", f"unreadable: {type(exc).__name__}: {exc}")
    ds = source.dataset
    identity = verify.identity_of(ds, profile)
    review = pixel_review_reason(ds, has_pixels=source.tail is not None)
    try:
        header = engine.to_bytes(engine.deidentify(ds, task.subject))
    except Exception as exc:
        return _quarantine_input(task, "de-identification failed",
                                 f"de-identification failed: {type(exc).__name__}: {exc}")
    element, pixels = source_pixels(source)
    data = header + element
    found = verify.verdict(data, identity, profile, pixels)
    if found.problems:
        return _quarantine_output(task, data, "verification failed",
                                  "verification failed: " + "; ".join(found.problems))
    if review:
        return _quarantine_output(task, data, "needs pixel review", f"needs pixel review: {review}")
    uids = (str(get_value(ds, "StudyInstanceUID", "")),
            str(get_value(ds, "SOPInstanceUID", "")))
    target = os.path.join(task.job.out, task.output)  # a str: see write_output
    if os.path.exists(target):
        if output_bytes_equal(target, data):
            return _outcome(task, "unchanged", target, uids, found.sha256)
        return _quarantine_output(task, data, "output exists", "the output folder already "
                                  "holds a different file at this path; move it away and re-run "
                                  "with --resume")
    write_output(target, data)
    return _outcome(task, "written", target, uids, found.sha256)


def _outcome(task: Task, state: str, target: str, uids: tuple[str, str], sha256: str) -> Outcome:
    st = os.stat(target)
    return Outcome(task.source, task.study_uid, state, task.output, None,
                   study_uid_out=uids[0], sop_uid_out=uids[1], size=st.st_size,
                   mtime_ns=st.st_mtime_ns, digest=sha256)


def _quarantine_output(task: Task, data: bytes, kind: str, reason: str) -> Outcome:
    """Keep an unreleased output in the quarantine, which only its owner may open."""
    quarantine_folder(task.job.quarantine)
    target = os.path.join(task.job.quarantine, task.output)
    write_output(target, data, private=True)
    write_output(os.path.splitext(target)[0] + ".reason.json",
                 json.dumps({"output": task.output, "reason": reason}, indent=1).encode(),
                 private=True)
    return Outcome(task.source, task.study_uid, "quarantined", target, reason, kind=kind)


def quarantine_folder(path: str | os.PathLike) -> None:
    """Create the quarantine readable by its owner only (0700), if it is not there."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def _quarantine_input(task: Task, kind: str, reason: str) -> Outcome:
    return Outcome(task.source, task.study_uid, "quarantined", None, reason, kind=kind)

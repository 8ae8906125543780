"""De-identify a whole delivery: plan in the coordinator, process files in workers.

The coordinator catalogs the source, selects series, de-duplicates, assigns
pseudonyms and date offsets (the only writer of the store), and plans an
output path per file. Workers read, de-identify, verify independently and
write each file; anything not verified goes to the quarantine folder, which
sits beside the output, never inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .. import verify
from ..catalog import Instance, Skipped, read_header, files_under
from ..errors import OutputConflict, WorkbenchError
from ..profile import Profile, load_profile
from ..select import Selector
from ..store import Store
from .dates import offset_days, shift_da
from .engine import Engine, Subject, render
from .files import output_bytes_equal, read_source, sha256_file, write_output
from .pixels import pixel_review_reason
from .pseudonyms import Lookup, assign

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Task:
    """One file for a worker: where it comes from, where it goes, whose it is."""

    source: str
    output: str  # relative to the output folder
    study_uid: str
    subject: Subject
    job: "Job"


@dataclass
class Outcome:
    """What happened to one file."""

    source: str
    study_uid: str
    state: str  # written | unchanged | quarantined
    output: str | None = None
    reason: str | None = None
    study_uid_out: str = ""
    sop_uid_out: str = ""
    size: int = 0
    mtime_ns: int = 0


@dataclass
class Report:
    """The result of a run: per-file outcomes, skipped files and per-study rows."""

    profile: str
    profile_hash: str
    out: str
    quarantine: str
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    studies: list[dict] = field(default_factory=list)

    @property
    def quarantined(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "quarantined"]

    @property
    def exit_code(self) -> int:
        """0 when everything selected was de-identified and verified, else 2."""
        return 2 if self.quarantined else 0

    def to_json(self) -> dict:
        return {"profile": self.profile, "profile_hash": self.profile_hash, "out": self.out,
                "studies": self.studies, "skipped": [asdict(s) for s in self.skipped],
                "quarantined": [asdict(o) for o in self.quarantined],
                "duplicates": self.duplicates}


def safe_name(text: str) -> str:
    """A file-system-safe name (no separators, no spaces)."""
    return UNSAFE.sub("_", text).strip("._") or "unnamed"


def default_quarantine(out: Path) -> Path:
    return out.parent / f"{out.name}.quarantine"


# --- workers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """What every worker of one run shares: profile, secret and folders."""

    profile: str  # path of the profile's YAML
    secret: bytes
    out: str
    quarantine: str


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
        return _quarantine_input(task, f"internal error, file not released: "
                                       f"{type(exc).__name__}: {exc}")


def _process(task: Task) -> Outcome:
    engine = _engine(task.job)
    profile = engine.profile
    try:
        source = read_source(task.source)
    except Exception as exc:
        return _quarantine_input(task, f"unreadable: {type(exc).__name__}: {exc}")
    ds = source.dataset
    identity = verify.identity_of(ds, profile)
    review = pixel_review_reason(ds, has_pixels=source.tail is not None)
    try:
        header = engine.to_bytes(engine.deidentify(ds, task.subject))
    except Exception as exc:
        return _quarantine_input(task, f"de-identification failed: {type(exc).__name__}: {exc}")
    problems = verify.check(header, identity, profile)
    uids = (str(ds.get("StudyInstanceUID", "")), str(ds.get("SOPInstanceUID", "")))
    if problems:
        return _quarantine_output(task, header, source, "verification failed: " + "; ".join(problems))
    if review:
        return _quarantine_output(task, header, source, f"needs pixel review: {review}")
    target = Path(task.job.out) / task.output
    if target.exists():
        if output_bytes_equal(target, header, source):
            return _outcome(task, "unchanged", target, uids)
        return _quarantine_output(task, header, source, "the output folder already holds a "
                                  "different file at this path; move it away and re-run with --resume")
    write_output(target, header, source)
    return _outcome(task, "written", target, uids)


def _outcome(task: Task, state: str, target: Path, uids: tuple[str, str]) -> Outcome:
    st = target.stat()
    return Outcome(task.source, task.study_uid, state, task.output, None,
                   study_uid_out=uids[0], sop_uid_out=uids[1], size=st.st_size,
                   mtime_ns=st.st_mtime_ns)


def _quarantine_output(task: Task, header: bytes, source, reason: str) -> Outcome:
    target = Path(task.job.quarantine) / task.output
    write_output(target, header, source)
    write_output(target.with_suffix(".reason.json"),
                 json.dumps({"output": task.output, "reason": reason}, indent=1).encode())
    return Outcome(task.source, task.study_uid, "quarantined", str(target), reason)


def _quarantine_input(task: Task, reason: str) -> Outcome:
    return Outcome(task.source, task.study_uid, "quarantined", None, reason)


# --- coordinator -------------------------------------------------------------------------

def deidentify_delivery(src: str | os.PathLike, out: str | os.PathLike, profile: str | Profile, *,
                        store: Store, secret: bytes | None = None, lookup: str | None = None,
                        site: str | None = None, workers: int = 1, resume: bool = False,
                        quarantine: str | os.PathLike | None = None,
                        executor: Executor | None = None, progress: bool = True,
                        headers: Iterable[Instance | Skipped] | None = None,
                        dispatch: Callable[[list[Task]], Iterable[Outcome]] | None = None
                        ) -> Report:
    """De-identify every selected file under ``src`` into ``out``.

    Parameters
    ----------
    src, out
        Source folder (read only) and output folder (empty, or ``resume``).
    profile
        Profile name, path or loaded :class:`Profile`.
    store
        The site's state database (linkage key, offsets, study states, audit).
    secret
        The trial secret; by default the store's, created on first use.
    lookup
        CSV lookup table for ``subject_id: {from: lookup}`` profiles.
    site
        Site ID for templates such as ``{site_id}`` (else from the lookup row).
    workers
        Worker processes (1 runs in this process).
    executor
        Any ``concurrent.futures`` executor to use instead of a process pool.
    headers
        The catalog of ``src`` when the caller has made it already (one
        :func:`~workbench.catalog.read_header` record per file); ``src`` is not read again.
    dispatch
        Runs the planned tasks instead of ``map(process, tasks)`` and yields their
        outcomes in task order; it may leave out tasks it need not run (a batch leaves
        out the studies it has done), which then get no outcome.
    """
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    src, out = Path(src).resolve(), Path(out).resolve()
    quarantine = Path(quarantine).resolve() if quarantine else default_quarantine(out)
    if not src.exists():
        raise WorkbenchError(f"source {src} does not exist.")
    if out == src or src in out.parents or out in src.parents:
        raise WorkbenchError(f"output {out} and source {src} overlap; choose a separate folder.")
    if quarantine == out or out in quarantine.parents:
        raise WorkbenchError(f"quarantine {quarantine} is inside the output {out}; it must stay "
                             "apart so it cannot leave the site with the output.")
    store.check_outside(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise OutputConflict(f"output folder {out} already holds files; pass --resume to "
                             "complete it, or choose an empty folder.")
    trial = profile.trial_key
    secret = secret or store.trial_secret(trial)
    table = Lookup.from_csv(lookup, profile.subject_id.get("key", "PatientID")) if lookup else None
    report = Report(profile.name, profile.hash, str(out), str(quarantine))
    store.audit(trial, "deid-start", {"profile": profile.name, "profile_hash": profile.hash,
                                      "workers": workers, "resume": resume})

    job = Job(str(profile.path), secret, str(out), str(quarantine))
    own_pool = None
    if executor is None and workers > 1:
        own_pool = executor = ProcessPoolExecutor(workers)
    if isinstance(executor, ProcessPoolExecutor):
        mapper = lambda fn, items: executor.map(fn, items, chunksize=16)  # noqa: E731
    else:
        mapper = executor.map if executor is not None else map
    try:
        if headers is None:
            paths = list(files_under(src))
            headers = _progress(mapper(read_header, paths), len(paths), "catalog", progress)
        tasks = _plan(list(headers), profile, store, secret, table, site, report, job)
        outcomes = dispatch(tasks) if dispatch is not None else mapper(process, tasks)
        report.outcomes += list(_progress(outcomes, len(tasks), "de-identify", progress))
    finally:
        if own_pool is not None:
            own_pool.shutdown()
    summarise(report, tasks, profile, store)
    _write_reasons(report, quarantine)
    store.audit(trial, "deid-end", {"files": len(report.outcomes),
                                    "quarantined": len(report.quarantined),
                                    "skipped": len(report.skipped)})
    return report


def _progress(it, total: int, desc: str, enabled: bool):
    from ..progress import progress_bar

    return progress_bar(it, total=total, desc=desc, unit="file", enabled=enabled)


def _plan(headers, profile: Profile, store: Store, secret: bytes, table: Lookup | None,
          site: str | None, report: Report, job: Job) -> list[Task]:
    selector = Selector(profile.select)
    wanted: list[Instance] = []
    for rec in headers:
        if isinstance(rec, Skipped):
            if rec.kind == "unreadable":
                report.outcomes.append(Outcome(rec.path, "", "quarantined", None, rec.reason))
            else:
                report.skipped.append(rec)
            continue
        why = selector.instance_reason(rec)
        if why:
            report.skipped.append(Skipped(rec.path, "not-selected", why))
        elif not rec.patient_id:
            report.outcomes.append(Outcome(rec.path, rec.study_uid, "quarantined", None,
                                           "no PatientID: the file cannot be linked to a subject; "
                                           "fix it at the site or leave it out"))
        else:
            wanted.append(rec)
    wanted = _deduplicate(wanted, report)

    key_field = profile.subject_id.get("key", "PatientID")
    key_of = (lambda i: i.accession) if key_field == "AccessionNumber" else (lambda i: i.patient_id)
    keys = {key_of(i): (i.patient_id, i.patient_name) for i in wanted}
    base_values = {"site_id": site} if site else {}
    first_row = next(iter(table.rows.values()), {}) if table else {}
    if "site_id" not in base_values and "site_id" in first_row:
        base_values["site_id"] = first_row["site_id"]  # for prefixes; rows override per study
    pseudonyms, missing = assign(profile, store, secret, keys, table, base_values)
    trial = profile.trial_key
    offsets = store.date_offsets(trial)
    new_offsets = {}
    low, high = profile.date_range
    for i in wanted:
        if i.patient_id not in offsets and i.patient_id not in new_offsets:
            new_offsets[i.patient_id] = offset_days(secret, i.patient_id, low, high)
    store.add_date_offsets(trial, new_offsets)
    offsets.update(new_offsets)

    by_patient: dict[str, set[str]] = defaultdict(set)
    for i in wanted:
        by_patient[i.patient_id].update(v for v in (i.patient_id, i.accession) if len(v) >= 3)
    engine = Engine(profile, secret)
    by_series: dict[str, list[Instance]] = defaultdict(list)
    for i in wanted:
        by_series[i.series_uid].append(i)
    tasks: list[Task] = []
    subjects: dict[str, Subject] = {}
    study_dirs: dict[str, str] = {}
    used_series_dirs: dict[tuple[str, str], str] = {}
    for series_uid in sorted(by_series, key=engine.remap):
        members = sorted(by_series[series_uid],
                         key=lambda i: (i.instance_number is None, i.instance_number or 0,
                                        engine.remap(i.sop_uid)))
        head = members[0]
        key = key_of(head)
        if key in missing:
            for i in members:
                report.outcomes.append(Outcome(i.path, i.study_uid, "quarantined", None,
                                               missing[key]))
            continue
        subject = subjects.get(head.study_uid)
        if subject is None:
            subject = subjects[head.study_uid] = _subject(
                head, profile, pseudonyms[key], offsets[head.patient_id],
                table.rows.get(key, {}) if table else {}, base_values, by_patient[head.patient_id],
                engine)
        sid = subject.subject_id
        study_dir = study_dirs.setdefault(
            head.study_uid, f"{subject.values['StudyDate'] or 'study'}_"
                            f"{hashlib.sha1(engine.remap(head.study_uid).encode()).hexdigest()[:8]}")
        series_dir = f"{head.modality or 'XX'}_{head.series_number if head.series_number is not None else 0}"
        if used_series_dirs.setdefault((study_dir, series_dir), series_uid) != series_uid:
            series_dir += "_" + hashlib.sha1(engine.remap(series_uid).encode()).hexdigest()[:6]
        template = profile.output.get("file_name", "IMG{n:05d}.dcm")
        for n, inst in enumerate(members, start=1):
            name = safe_name(render(template, {**subject.values, "n": n,
                                               "Modality": inst.modality}))
            rel = f"{safe_name(sid)}/{study_dir}/{safe_name(series_dir)}/{name}"
            tasks.append(Task(inst.path, rel, inst.study_uid, subject, job))
    return tasks


def _subject(head: Instance, profile: Profile, sid: str, offset: int, row: dict, base: dict,
             patient_keys: set[str], engine: Engine) -> Subject:
    dates = "retain_long_full_dates", "retain_long_modified_dates"
    if dates[0] in profile.options:
        study_date = head.study_date
    elif dates[1] in profile.options:
        study_date = shift_da(head.study_date, offset) or ""
    else:
        study_date = ""
    values = {**base, **row, "subject_id": sid, "StudyDate": study_date,
              "Modality": head.modality}
    trial = profile.trial
    values["timepoint"] = render(str(trial.get("timepoint", "")), values)
    for key, template in trial.items():
        if isinstance(template, str) and key != "timepoint":
            text = render(template, values)
            if text or key not in values:
                values[key] = text
    replacements = tuple(sorted((k, sid) for k in patient_keys))
    return Subject(sid, offset, values, replacements)


def _deduplicate(instances: list[Instance], report: Report) -> list[Instance]:
    by_uid: dict[str, list[Instance]] = defaultdict(list)
    for i in instances:
        by_uid[i.sop_uid].append(i)
    keep = []
    for uid, group in by_uid.items():
        if len(group) == 1:
            keep.append(group[0])
            continue
        group.sort(key=lambda i: i.path)
        digests = {sha256_file(i.path) for i in group}
        if len(digests) == 1:
            keep.append(group[0])
            report.duplicates += [(i.path, group[0].path) for i in group[1:]]
        else:
            for i in group:
                report.outcomes.append(Outcome(
                    i.path, i.study_uid, "quarantined", None,
                    f"conflict: {len(group)} files share one SOP Instance UID with different "
                    "content; decide which is right and remove the other from the source"))
    return keep


def summarise(report: Report, tasks: list[Task], profile: Profile, store: Store) -> None:
    """Fill ``report.studies`` from the outcomes and record studies and verified outputs."""
    subjects = {t.study_uid: t for t in tasks}
    rows: dict[str, dict] = {}
    for o in report.outcomes:
        if not o.study_uid:
            continue
        t = subjects.get(o.study_uid)
        row = rows.setdefault(o.study_uid, {
            "subject_id": t.subject.subject_id if t else "",
            "study": t.output.split("/")[1] if t else "(not planned)",
            "files": 0, "written": 0, "unchanged": 0, "quarantined": 0, "reasons": set()})
        row["files"] += 1
        row[o.state] += 1
        if o.state == "quarantined":
            row["reasons"].add(_reason_kind(o.reason or ""))
    out = Path(report.out)
    done = [o for o in report.outcomes if o.state in ("written", "unchanged")]
    new_uids = {o.study_uid: o.study_uid_out for o in done}
    store.record_outputs(profile.trial_key, profile.hash, [
        (out / o.output, o.study_uid_out, o.sop_uid_out, subjects[o.study_uid].subject.subject_id,
         o.size, o.mtime_ns) for o in done])
    for row in rows.values():
        row["state"] = "quarantined" if row["quarantined"] else "verified"
        row["reasons"] = "; ".join(sorted(row.pop("reasons")))
    store.set_studies(profile.trial_key, [
        (uid, new_uids.get(uid, ""), row["subject_id"], row["state"], row["files"],
         row["quarantined"], row["reasons"], profile.hash) for uid, row in rows.items()])
    report.studies = sorted(rows.values(), key=lambda r: (r["subject_id"], r["study"]))


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def _write_reasons(report: Report, quarantine: Path) -> None:
    """Append this run's quarantine reasons to ``reasons.jsonl``; a resumed run adds no repeats."""
    if not report.quarantined:
        return
    quarantine.mkdir(parents=True, exist_ok=True)
    path = quarantine / "reasons.jsonl"
    known = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    lines = [json.dumps({"source": o.source, "quarantined_as": o.output, "reason": o.reason})
             for o in report.quarantined]
    new = [line for line in dict.fromkeys(lines) if line not in known]
    if new:
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n".join(new) + "\n")

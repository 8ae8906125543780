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
from typing import Callable, Iterable, Iterator

from .. import verify
from ..catalog import Instance, Skipped, files_under, read_header
from ..dicomio import get_value
from ..errors import OutputConflict, StoreError, WorkbenchError
from ..profile import Profile, load_profile
from ..select import Selector
from ..store import Store, open_to_others
from .dates import offset_days, shift_da
from .delivery import BATCH, Delivery, Outcome
from .engine import Engine, Subject, render
from .files import (output_bytes_equal, owner_only, read_source, sha256_file, source_pixels,
                    write_output)
from .pixels import pixel_review_reason
from . import resume as resume_guard
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
class Report:
    """The result of a run: per-study rows, skipped and duplicate files, and per-file outcomes.

    The outcomes are kept in the run's :class:`~workbench.deid.delivery.Delivery`
    (on disk), and read back when asked for.
    """

    profile: str
    profile_hash: str
    out: str
    quarantine: str
    files: Delivery = field(default_factory=Delivery, repr=False)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. ignored lookup rows
    studies: list[dict] = field(default_factory=list)
    by_study: dict[str, dict] = field(default_factory=dict, repr=False)  # source UID -> row

    @property
    def outcomes(self) -> list[Outcome]:
        """What happened to each file that was planned or quarantined."""
        return list(self.files.outcomes())

    @property
    def quarantined(self) -> list[Outcome]:
        return list(self.files.outcomes("quarantined"))

    @property
    def exit_code(self) -> int:
        """0 when everything selected was de-identified and verified, else 2."""
        return 2 if next(self.files.outcomes("quarantined"), None) else 0

    def lines(self) -> list[str]:
        """Per-study summary, then what was skipped and what was quarantined and why (what
        ``workbench deid`` prints)."""
        lines = [f"profile {self.profile} (sha256 {self.profile_hash[:12]}) -> {self.out}"]
        if self.studies:
            width = max(len(r["subject_id"]) for r in self.studies) + 2
            lines.append(f"{'subject':{width}}{'study':22}{'files':>6}{'written':>8}"
                         f"{'unchanged':>10}{'quarantined':>12}  state")
            lines += [f"{r['subject_id']:{width}}{r['study']:22}{r['files']:>6}{r['written']:>8}"
                      f"{r['unchanged']:>10}{r['quarantined']:>12}  {r['state']}"
                      + (f" ({r['reasons']})" if r["reasons"] else "") for r in self.studies]
        series: dict[tuple[str, str], int] = {}
        for s in self.skipped:
            if s.kind == "not-selected":
                key = (os.path.dirname(s.path), s.reason)
                series[key] = series.get(key, 0) + 1
            else:
                lines.append(f"skipped {s.path}: {s.reason}")
        lines += [f"skipped series {folder} ({n} file(s)): {reason}"
                  for (folder, reason), n in sorted(series.items())]
        lines += [f"duplicate skipped: {dup} (identical to {original})"
                  for dup, original in self.duplicates]
        held = self.quarantined
        if held:
            lines.append(f"quarantined {len(held)} file(s) in {self.quarantine} "
                         "(reasons in reasons.jsonl):")
            lines += [f"  {o.source}: {o.reason}" for o in held]
        ok = sum(r["written"] + r["unchanged"] for r in self.studies)
        lines.append(f"{ok} file(s) de-identified and verified, {len(held)} quarantined, "
                     f"{len(self.skipped)} skipped")
        return lines

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
    _quarantine_folder(task.job.quarantine)
    target = os.path.join(task.job.quarantine, task.output)
    write_output(target, data, private=True)
    write_output(os.path.splitext(target)[0] + ".reason.json",
                 json.dumps({"output": task.output, "reason": reason}, indent=1).encode(),
                 private=True)
    return Outcome(task.source, task.study_uid, "quarantined", target, reason, kind=kind)


def _quarantine_folder(path: str | os.PathLike) -> None:
    """Create the quarantine readable by its owner only (0700), if it is not there."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def quarantine_exposure(quarantine: str | os.PathLike) -> str | None:
    """A warning when other users of this machine can open the quarantine, else None."""
    mode = open_to_others(quarantine)
    if mode is not None:
        return (f"warning: the quarantine {quarantine} holds identifiable copies and is open to "
                f"other users (mode {mode:o}); run chmod 700 on it.")
    return None


def _quarantine_input(task: Task, kind: str, reason: str) -> Outcome:
    return Outcome(task.source, task.study_uid, "quarantined", None, reason, kind=kind)


# --- coordinator -------------------------------------------------------------------------

def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def folders(src: str | os.PathLike, out: str | os.PathLike,
            quarantine: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    """Source, output and quarantine as absolute paths (the quarantine beside OUT by default)."""
    out = Path(out).resolve()
    return (Path(src).resolve(), out,
            Path(quarantine).resolve() if quarantine else default_quarantine(out))


def check_folders(src: Path, out: Path, quarantine: Path, store: Path) -> None:
    """Refuse folders that overlap: sources stay read-only, outputs carry no identifiable
    copies or keys. ``OUT.quarantine`` and the other ``OUT.*`` folders count as OUT's own."""
    store = store.resolve()
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"output {out} is a file; give a folder (new or empty) for OUT.")
    if _inside(out, src) or _inside(src, out):
        raise WorkbenchError(f"output {out} and source {src} overlap; choose a separate folder.")
    if any(p.parent == out.parent and p.name.startswith(f"{out.name}.")
           for p in (src, *src.parents)):
        raise WorkbenchError(f"source {src} is inside {out}'s own folders (quarantine, receipts, "
                             "superseded outputs); copy the files you mean to process elsewhere.")
    for what, path in (("quarantine", quarantine), ("state database", store)):
        if _inside(path, src):
            raise WorkbenchError(f"{what} {path} is inside the source {src}; sources are never "
                                 f"written to. Choose a {what} outside it.")
    if _inside(quarantine, out):
        raise WorkbenchError(f"quarantine {quarantine} is inside the output {out}; it must stay "
                             "apart so it cannot leave the site with the output.")
    if _inside(store, out):
        raise StoreError(f"the state database {store} is inside {out}; it holds the "
                         "linkage key and must stay outside any output. Use --store elsewhere.")


def deidentify_delivery(src: str | os.PathLike, out: str | os.PathLike, profile: str | Profile, *,
                        store: Store, secret: bytes | None = None, lookup: str | None = None,
                        site: str | None = None, workers: int = 1, resume: bool = False,
                        quarantine: str | os.PathLike | None = None,
                        executor: Executor | None = None, progress: bool = True,
                        headers: Delivery | Iterable[Instance | Skipped] | None = None,
                        dispatch: Callable[[Iterator[Task], int], Iterable[Outcome]] | None = None
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
        The catalog of ``src`` when the caller has made it already: one
        :func:`~workbench.catalog.read_header` record per file, or a
        :class:`~workbench.deid.delivery.Delivery` holding them; ``src`` is not read again.
    dispatch
        Runs the planned tasks instead of ``map(process, tasks)``: called with the
        tasks (an iterator, study by study) and their number, it yields their
        outcomes in task order; it may leave out tasks it need not run (a batch
        leaves out the studies it has done), which then get no outcome. It records
        the verified outputs in the store itself (a batch, as each study finishes).
    """
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    src, out, quarantine = folders(src, out, quarantine)
    if not src.exists():
        raise WorkbenchError(f"source {src} does not exist.")
    check_folders(src, out, quarantine, store.path)
    if out.exists() and any(out.iterdir()) and not resume:
        raise OutputConflict(f"output folder {out} already holds files; pass --resume to "
                             "complete it, or choose an empty folder.")
    trial = profile.trial_key
    secret = secret or store.trial_secret(trial)
    table = Lookup.for_profile(lookup, profile) if lookup else None
    resume_guard.guard(store, out, profile, secret, site, table, resume,
                       managed=dispatch is not None)
    files = headers if isinstance(headers, Delivery) else Delivery()
    report = Report(profile.name, profile.hash, str(out), str(quarantine), files=files)
    report.warnings += filter(None, [table.warning() if table else None])
    store.audit(trial, "deid-start", {"profile": profile.name, "profile_hash": profile.hash,
                                      "workers": workers, "resume": resume})

    job = Job(str(profile.path), secret, str(out), str(quarantine))
    tally = Tally(out, profile, store, outputs=dispatch is None)

    def record(outcome: Outcome) -> None:
        files.add_outcome(outcome)
        tally.add(outcome)

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
            files.add_all((rec, "") for rec in _progress(mapper(read_header, paths), len(paths),
                                                          "catalog", progress))
        elif files is not headers:
            files.add_all((rec, "") for rec in headers)
        total, tasks = _plan(profile, store, secret, table, site, report, job, record)
        tasks = map(tally.note, tasks)
        outcomes = dispatch(tasks, total) if dispatch is not None else mapper(process, tasks)
        for outcome in _progress(outcomes, total, "de-identify", progress):
            record(outcome)
    finally:
        if own_pool is not None:
            own_pool.shutdown()
    report.by_study = tally.close()
    report.studies = sorted(report.by_study.values(), key=lambda r: (r["subject_id"], r["study"]))
    _write_reasons(report, quarantine)
    done, held = files.query("SELECT count(*), count(CASE WHEN state = 'quarantined' THEN 1 END) "
                             "FROM outcomes").fetchone()
    store.audit(trial, "deid-end", {"files": done, "quarantined": held,
                                    "skipped": len(report.skipped)})
    return report


def _progress(it, total: int, desc: str, enabled: bool):
    if not enabled:  # tqdm.auto loads asyncio: a run without bars starts 50 ms sooner
        return it
    from ..progress import progress_bar

    return progress_bar(it, total=total, desc=desc, unit="file", enabled=enabled)


def _plan(profile: Profile, store: Store, secret: bytes, table: Lookup | None, site: str | None,
          report: Report, job: Job, record: Callable[[Outcome], None]
          ) -> tuple[int, Iterator[Task]]:
    """Select, de-duplicate and link the delivery's files; the tasks come study by study.

    Pseudonyms and date offsets are settled (and stored) here, before any task;
    the tasks are made as they are taken, from the delivery's records of one
    study at a time.
    """
    files = report.files
    selector = Selector(profile.select)
    wanted: list[int] = []
    held: list[Outcome] = []
    for n, rec in files.records():
        if isinstance(rec, Skipped):
            if rec.kind == "unreadable":
                held.append(Outcome(rec.path, "", "quarantined", None, rec.reason,
                                    kind="unreadable"))
            else:
                report.skipped.append(rec)
            continue
        why = selector.instance_reason(rec)
        if why:
            report.skipped.append(Skipped(rec.path, "not-selected", why))
        elif not rec.patient_id:
            held.append(Outcome(rec.path, rec.study_uid, "quarantined", None,
                                "no PatientID: the file cannot be linked to a subject; "
                                "fix it at the site or leave it out", kind="no PatientID"))
        else:
            wanted.append(n)
    files.set_planned(wanted, True)
    del wanted
    held += _deduplicate(files, report)

    by_accession = profile.subject_id.get("key", "PatientID") == "AccessionNumber"
    keys: dict[str, tuple[str, str]] = {}
    by_patient: dict[str, set[str]] = defaultdict(set)
    for pid, name, accession in files.query(
            "SELECT patient_id, patient_name, accession FROM files WHERE planned ORDER BY n"):
        keys[accession if by_accession else pid] = (pid, name)
        by_patient[pid].update(v for v in (pid, accession) if len(v) >= 3)
    base_values = {"site_id": site} if site else {}
    first_row = next(iter(table.rows.values()), {}) if table else {}
    if "site_id" not in base_values and "site_id" in first_row:
        base_values["site_id"] = first_row["site_id"]  # for prefixes; rows override per study
    pseudonyms, missing = assign(profile, store, secret, keys, table, base_values)
    resume_guard.record_rows(store, report.out, table, (k for k in keys if k not in missing))
    trial = profile.trial_key
    offsets = store.date_offsets(trial)
    low, high = profile.date_range
    new_offsets = {pid: offset_days(secret, pid, low, high) for pid in by_patient
                   if pid not in offsets}
    store.add_date_offsets(trial, new_offsets)
    offsets.update(new_offsets)
    if missing:
        unlinked = [(n, path, uid, missing[accession if by_accession else pid]) for
                    n, path, uid, pid, accession in files.query(
                        "SELECT n, path, study_uid, patient_id, accession FROM files "
                        "WHERE planned ORDER BY n")
                    if (accession if by_accession else pid) in missing]
        files.set_planned((n for n, *_ in unlinked), False)
        held += [Outcome(path, uid, "quarantined", None, why, kind="no subject ID")
                 for _, path, uid, why in unlinked]
    for outcome in held:
        record(outcome)
    total = files.query("SELECT count(*) FROM files WHERE planned").fetchone()[0]

    def tasks() -> Iterator[Task]:
        engine = Engine(profile, secret)
        template = profile.output.get("file_name", "IMG{n:05d}.dcm")
        used_series_dirs: dict[tuple[str, str], str] = {}
        studies = [uid for (uid,) in files.query(
            "SELECT DISTINCT study_uid FROM files WHERE planned")]
        for study_uid in sorted(studies, key=engine.remap):
            by_series: dict[str, list[Instance]] = defaultdict(list)
            for i in list(files.instances("planned AND study_uid = ?", (study_uid,))):
                by_series[i.series_uid].append(i)
            subject = study_dir = None
            for series_uid in sorted(by_series, key=engine.remap):
                members = sorted(by_series.pop(series_uid),
                                 key=lambda i: (i.instance_number is None, i.instance_number or 0,
                                                engine.remap(i.sop_uid)))
                head = members[0]
                if subject is None:
                    key = head.accession if by_accession else head.patient_id
                    subject = _subject(head, profile, pseudonyms[key], offsets[head.patient_id],
                                       table.rows.get(key, {}) if table else {}, base_values,
                                       by_patient[head.patient_id], engine)
                    study_dir = (f"{subject.values['StudyDate'] or 'study'}_"
                                 f"{hashlib.sha1(engine.remap(study_uid).encode()).hexdigest()[:8]}")
                series_dir = (f"{head.modality or 'XX'}_"
                              f"{head.series_number if head.series_number is not None else 0}")
                if used_series_dirs.setdefault((study_dir, series_dir), series_uid) != series_uid:
                    series_dir += "_" + hashlib.sha1(engine.remap(series_uid).encode()).hexdigest()[:6]
                for n, inst in enumerate(members, start=1):
                    name = safe_name(render(template, {**subject.values, "n": n,
                                                       "Modality": inst.modality}))
                    rel = f"{safe_name(subject.subject_id)}/{study_dir}/{safe_name(series_dir)}/{name}"
                    yield Task(inst.path, rel, inst.study_uid, subject, job)

    files.query("CREATE INDEX IF NOT EXISTS files_by_study ON files (study_uid, planned)")
    return total, tasks()


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


def _deduplicate(files: Delivery, report: Report) -> list[Outcome]:
    """Keep one of identical copies of a SOP instance; quarantine differing ones."""
    held = []
    for (uid,) in files.query("SELECT sop_uid FROM files WHERE planned GROUP BY sop_uid "
                              "HAVING count(*) > 1 ORDER BY min(n)").fetchall():
        group = files.query("SELECT n, path, study_uid FROM files WHERE planned AND sop_uid = ? "
                            "ORDER BY path", (uid,)).fetchall()
        digests = {sha256_file(path) for _, path, _ in group}
        if len(digests) == 1:
            files.set_planned((n for n, *_ in group[1:]), False)
            report.duplicates += [(path, group[0][1]) for _, path, _ in group[1:]]
            continue
        files.set_planned((n for n, *_ in group), False)
        held += [Outcome(path, study_uid, "quarantined", None,
                         f"conflict: {len(group)} files share one SOP Instance UID with different "
                         "content; decide which is right and remove the other from the source",
                         kind="conflict")
                 for _, path, study_uid in group]
    return held


class Tally:
    """Per-study rows of a run, counted as its outcomes come in.

    Verified outputs are recorded in the store as they come (a transaction per
    thousand) unless ``outputs`` is False (a batch records them study by study);
    :meth:`close` records the studies and returns their rows.
    """

    def __init__(self, out: Path, profile: Profile, store: Store, outputs: bool = True) -> None:
        self.out, self.profile, self.store, self.record_outputs = out, profile, store, outputs
        self.planned: dict[str, tuple[str, str]] = {}  # study UID -> (subject ID, study folder)
        self.rows: dict[str, dict] = {}
        self.new_uids: dict[str, str] = {}
        self.outputs: list[tuple] = []

    def note(self, task: Task) -> Task:
        """Take a planned task's study (its subject and folder); returns the task."""
        if task.study_uid not in self.planned:
            self.planned[task.study_uid] = (task.subject.subject_id, task.output.split("/")[1])
        return task

    def add(self, o: Outcome) -> None:
        if not o.study_uid:
            return
        row = self.rows.setdefault(o.study_uid, {"files": 0, "written": 0, "unchanged": 0,
                                                 "quarantined": 0, "reasons": set()})
        row["files"] += 1
        row[o.state] += 1
        if o.state == "quarantined":
            row["reasons"].add(o.kind)
            return
        self.new_uids[o.study_uid] = o.study_uid_out
        if not self.record_outputs:
            return
        self.outputs.append((os.path.join(self.out, o.output), o.study_uid_out, o.sop_uid_out,
                             self.planned[o.study_uid][0], o.size, o.mtime_ns, o.digest))
        if len(self.outputs) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.outputs:
            self.store.record_outputs(self.profile.trial_key, self.profile.hash,
                                      self.outputs)
        self.outputs = []

    def close(self) -> dict[str, dict]:
        """Record the outputs left and every study's state; the rows by source study UID."""
        self._flush()
        found = {}
        for uid, counts in self.rows.items():
            subject_id, study = self.planned.get(uid, ("", "(not planned)"))
            reasons = counts.pop("reasons")
            found[uid] = {"subject_id": subject_id, "study": study, **counts,
                          "state": "quarantined" if counts["quarantined"] else "verified",
                          "reasons": "; ".join(sorted(reasons))}
        self.store.set_studies(self.profile.trial_key, [
            (uid, self.new_uids.get(uid, ""), row["subject_id"], row["state"], row["files"],
             row["quarantined"], row["reasons"], self.profile.hash) for uid, row in found.items()])
        return found


def _write_reasons(report: Report, quarantine: Path) -> None:
    """Append this run's quarantine reasons to ``reasons.jsonl``; a resumed run adds no repeats."""
    if not report.quarantined:
        return
    _quarantine_folder(quarantine)
    path = quarantine / "reasons.jsonl"
    known = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    lines = [json.dumps({"source": o.source, "quarantined_as": o.output, "reason": o.reason,
                         "kind": o.kind}) for o in report.quarantined]
    new = [line for line in dict.fromkeys(lines) if line not in known]
    if new:
        with open(path, "a", encoding="utf-8", opener=owner_only) as f:
            f.write("\n".join(new) + "\n")

"""De-identify a whole delivery: plan in the coordinator, process files in workers.

The coordinator catalogs the source, selects series, de-duplicates, assigns
pseudonyms and date offsets (the only writer of the store), and plans an
output path per file, study by study. Workers (:mod:`.worker`) read,
de-identify, verify independently and write each file; anything not verified
goes to the quarantine folder, which sits beside the output, never inside it.
The run's result is a :class:`~.report.Report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..catalog import Instance, Skipped, files_under, read_header
from ..errors import OutputConflict, StoreError, WorkbenchError
from ..profile import Profile, load_profile
from ..select import Selector
from ..store import Store, open_to_others
from .dates import offset_days, shift_da
from .delivery import Delivery, Outcome
from .engine import Engine, Subject, render
from .files import owner_only, sha256_file
from . import resume as resume_guard
from .pseudonyms import Lookup, assign
from .report import Report, Tally
from .worker import Job, Task, process, quarantine_folder

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-system-safe name (no separators, no spaces)."""
    return UNSAFE.sub("_", text).strip("._") or "unnamed"


def default_quarantine(out: Path) -> Path:
    return out.parent / f"{out.name}.quarantine"


def quarantine_exposure(quarantine: str | os.PathLike) -> str | None:
    """A warning when other users of this machine can open the quarantine, else None."""
    mode = open_to_others(quarantine)
    if mode is not None:
        return (f"warning: the quarantine {quarantine} holds identifiable copies and is open to "
                f"other users (mode {mode:o}); run chmod 700 on it.")
    return None


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
                                       by_patient[head.patient_id])
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
             patient_keys: set[str]) -> Subject:
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


def _write_reasons(report: Report, quarantine: Path) -> None:
    """Append this run's quarantine reasons to ``reasons.jsonl``; a resumed run adds no repeats."""
    if not report.quarantined:
        return
    quarantine_folder(quarantine)
    path = quarantine / "reasons.jsonl"
    known = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    lines = [json.dumps({"source": o.source, "quarantined_as": o.output, "reason": o.reason,
                         "kind": o.kind}) for o in report.quarantined]
    new = [line for line in dict.fromkeys(lines) if line not in known]
    if new:
        with open(path, "a", encoding="utf-8", opener=owner_only) as f:
            f.write("\n".join(new) + "\n")

"""Push verified studies to XNAT with xnatpy, confirm them and leave a receipt.

One study per zip, written to a temporary file and streamed from disk to
``/data/services/import`` (``DICOM-zip`` handler, ``dest=/archive``) under the
project, subject and session labels that the profile's ``trial:`` block defines.
Every attempt first asks the server what it already holds (archive and
prearchive), so a retry or a re-run never duplicates a session. After the upload
the session's scans and files are listed and compared with the local files: by
MD5 where the server keeps files as sent, else by SOP Instance UID and a digest
of the pixel data (a site script may rewrite header fields on import).

Credentials: see :mod:`workbench.push.xnat_server`.

Examples
--------
>>> result = push_studies("out", "uk-pet-core-lab", store=Store("state.sqlite"),
...                       url="http://127.0.0.1:8080")            # doctest: +SKIP
>>> result.table                                                    # doctest: +SKIP
>>> result.retry_failed()                                           # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from xnat.core import XNATBaseObject
from xnat.exceptions import XNATResponseError
from xnat.prearchive import PrearchiveSession
from xnat.session import XNATSession

from ..deid.engine import render
from ..errors import ProfileError, PushError
from ..profile import Profile
from ..progress import progress_bar
from ..store import Store
from .destination import Destination, Job, Retry, StudyFailed
from .local import LocalFile, LocalStudy, content_digest, sanitize_label, write_zip
from .result import PushResult
from .xnat_server import Server, UploadReader, public_url, translate

OVERWRITE = ("none", "append")
_SETTLED = {"READY", "CONFLICT", "ERROR"}
_PROJECT_ID = re.compile(r"^[\w-]+$")
_SCAN_OF = re.compile(r"/scans/([^/]+)/resources/")


@dataclass(frozen=True)
class Target:
    """Where a study goes: project ID, subject and session labels, project to share into."""

    project: str
    subject: str
    session: str
    share_to: str


@dataclass
class _Check:
    """Comparison of a session on the server with the local study."""

    expected: int
    found: int
    missing: list[str] = field(default_factory=list)  # SOP UIDs not on the server
    foreign: list[str] = field(default_factory=list)  # server files that are not the study's
    different: list[str] = field(default_factory=list)  # SOP UIDs whose pixel data differ
    method: str = "md5"
    uris: dict[str, str] = field(default_factory=dict)  # SOP UID -> server URI

    @property
    def complete(self) -> bool:
        return not (self.missing or self.foreign or self.different)

    @property
    def problem(self) -> str:
        parts = [f"{self.found} file(s) on the server, {self.expected} local"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing")
        if self.foreign:
            parts.append(f"{len(self.foreign)} not from this study (e.g. {self.foreign[0]})")
        if self.different:
            parts.append(f"{len(self.different)} with different pixel data")
        return ", ".join(parts)



class XnatPusher(Destination):
    """Push the verified studies of one output folder to one XNAT project.

    Parameters
    ----------
    out, store, receipts, controller, progress, on_study, attempts, retry_wait
        As for :class:`~workbench.push.destination.Destination`; ``attempts`` counts
        errors that may pass (5xx, dropped connection, restart).
    profile
        Profile name, path or :class:`~workbench.profile.Profile`; its ``trial:`` block
        gives ``xnat_url`` (optional), ``xnat_project``, ``subject_label``,
        ``session_label``, ``timepoint`` and ``share_to``.
    url, project, share_to
        Override the profile's server URL, project ID and share project.
    login
        ``(user, password)`` for the server (e.g. asked with ``getpass`` in a notebook);
        by default from ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc``. Never recorded.
    overwrite
        ``none``: never add to a session that existed before this push; ``append``:
        complete such a session (same StudyInstanceUID) with the missing files.
    timeout
        ``(connect, read)`` seconds for each upload; other requests read up to 120 s.
    settle_timeout
        Seconds to wait for an earlier upload still being processed in the prearchive.
    """

    def __init__(self, out: str | os.PathLike, profile: str | os.PathLike | Profile, *,
                 store: Store, url: str | None = None, project: str | None = None,
                 share_to: str | None = None, login: tuple[str, str] | None = None,
                 overwrite: str = "none", timeout: tuple[float, float] = (10.0, 600.0),
                 settle_timeout: float = 60.0, **options) -> None:
        super().__init__(out, profile, store=store, **options)
        trial = self.profile.trial
        self.url = (url or str(trial.get("xnat_url") or "")).strip()
        if not self.url:
            raise PushError("no XNAT URL: pass --xnat URL, or set xnat_url in the trial: block "
                            f"of profile {self.profile.name}.")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise PushError(f"XNAT URL {public_url(self.url)!r} must start with http:// or "
                            "https://.")
        if not (project or trial.get("xnat_project")):
            raise PushError(f"no XNAT project: pass --project, or set xnat_project in the trial: "
                            f"block of profile {self.profile.name}.")
        if overwrite not in OVERWRITE:
            raise PushError(f"overwrite must be one of {', '.join(OVERWRITE)}, not {overwrite!r}.")
        self.project, self.share_to, self.overwrite = project, share_to, overwrite
        self.login = login
        self.timeout, self.settle_timeout = timeout, settle_timeout
        self._server: Server | None = None
        self._ours: set[tuple[str, str]] = set()  # sessions this pusher created

    # ------------------------------------------------------------------ the connection
    def connect(self) -> str:
        self._server = Server(self.url, self.timeout, self.login)
        return self._server.shown

    def reconnect(self) -> None:
        self._server.relogin()

    def disconnect(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def settings(self) -> dict[str, str]:
        return {"overwrite": self.overwrite,
                "project": self.project or str(self.profile.trial.get("xnat_project"))}

    # ------------------------------------------------------------------ one study
    def prepare(self, study: LocalStudy, folder: Path) -> Path:
        """Write the study's zip; a file that changed since verification fails it."""
        path = folder / "study.zip"
        try:
            write_zip(study, path)
        except OSError as exc:
            raise StudyFailed(f"cannot zip the study's files: {exc}") from None
        return path

    def locate(self, job: Job) -> Target:
        """The project, subject and session labels of the study (the profile's ``trial:``)."""
        trial = self.profile.trial
        values = dict(job.study.values)
        try:
            if "timepoint" in trial:
                values["timepoint"] = render(str(trial["timepoint"]), values)
            project = self.project or render(str(trial.get("xnat_project") or ""), values)
            subject = render(str(trial.get("subject_label") or "{subject_id}"), values)
            session = render(str(trial.get("session_label") or "{subject_id}"), values)
            share_to = self.share_to or render(str(trial.get("share_to") or ""), values)
        except ProfileError as exc:
            raise StudyFailed(f"cannot build the XNAT labels: {exc}") from None
        target = Target(project, sanitize_label(subject), sanitize_label(session), share_to)
        for name, value in (("project", target.project), ("share_to", target.share_to)):
            if value and not _PROJECT_ID.match(value):
                raise StudyFailed(f"XNAT {name} {value!r} is not a project ID (letters, digits, "
                                  "_ and - only)")
        if not (target.project and target.subject and target.session):
            raise StudyFailed(f"empty XNAT label (project {target.project!r}, subject "
                              f"{target.subject!r}, session {target.session!r}); fix the trial: "
                              f"block of profile {self.profile.name}")
        outcome = job.outcome
        outcome.project, outcome.subject_label = target.project, target.subject
        outcome.session_label = target.session
        return target

    def transfer(self, job: Job) -> None:
        """Upload the zip unless the session already holds the study (``job.arrived``:
        the archived session, and its check when nothing was uploaded)."""
        session, target = self._server.session, job.target
        key = (target.project, target.session)
        existing = self._holdings(session, job)
        if existing is not None:
            self._check_identity(session, existing, job)
            check = self._compare(session, existing, job)
            if check.complete:
                job.arrived = existing, check
                return
            if check.foreign or check.different:
                raise StudyFailed(f"session {target.session} in project {target.project} holds "
                                  f"other data ({check.problem}); rename or remove it in XNAT")
            if self.overwrite != "append" and key not in self._ours:
                raise StudyFailed(f"session {target.session} in project {target.project} "
                                  f"already holds {check.found} of {check.expected} files; "
                                  "re-run with --overwrite append to add the missing ones")
        mode = "append" if existing is not None else self.overwrite
        if existing is None:
            self._ours.add(key)
        job.sent = True
        job.arrived = self._upload(session, job, mode), None

    def confirm(self, job: Job) -> None:
        """Compare the session's files with the study, then share it and write the QC flags."""
        session, target, outcome = self._server.session, job.target, job.outcome
        experiment, check = job.arrived
        if check is None:
            check = self._compare(session, experiment, job)
            if not check.complete:
                raise Retry(f"confirmation failed after the upload: {check.problem}")
        self._share(experiment, target)
        self._write_flags(session, experiment, job, check)
        outcome.confirmed_by = check.method
        outcome.session_uri = (f"/data/projects/{target.project}/subjects/{target.subject}"
                               f"/experiments/{target.session}")
        outcome.file_records = [{"sop_uid": f.sop_uid, "md5": f.md5, "uri": check.uris[f.sop_uid]}
                                for f in job.study.files]

    # ------------------------------------------------------------------ the steps on XNAT
    def _write_flags(self, session: XNATSession, experiment: XNATBaseObject, job: Job,
                     check: _Check) -> None:
        """Write the reviewers' QC flags of the study's series to their scans' quality field
        (images are flagged in XNAT, never edited)."""
        study = job.study
        flags = self.store.scan_flags(self.profile.trial_key, study.name)
        if not flags:
            return
        for (_, series), row in sorted(flags.items()):
            one = next((f for f in study.files if f.name.split("/")[0] == series), None)
            scan = _SCAN_OF.search(check.uris.get(one.sop_uid, "")) if one else None
            if scan is None:
                continue
            with translate(f"writing the QC flag of scan {scan[1]}", job.target.project):
                session.put(f"/data/experiments/{experiment.id}/scans/{scan[1]}",
                            query={"xnat:imageScanData/quality": row["flag"]})

    def _holdings(self, session: XNATSession, job: Job) -> XNATBaseObject | None:
        """The archived session with the target's label (or None), after clearing leftovers.

        Prearchive entries of this study (same StudyInstanceUID) still being processed
        are waited for; settled ones (READY, CONFLICT, ERROR) are leftovers of failed
        uploads and are deleted so that the next upload cannot duplicate them.
        """
        target, study = job.target, job.study
        deadline = time.monotonic() + self.settle_timeout
        while True:
            with translate("listing the prearchive", target.project):
                rows = session.get_json(
                    f"/data/prearchive/projects/{target.project}")["ResultSet"]["Result"]
            ours = [r for r in rows if r.get("tag") == study.study_uid or (
                not r.get("tag") and r.get("name") == target.session
                and r.get("subject") == target.subject)]
            busy = [r for r in ours if r.get("status") not in _SETTLED]
            if not busy:
                break
            if time.monotonic() > deadline:
                raise Retry("the server is still processing an earlier upload of this session "
                            f"(prearchive status {busy[0].get('status')})")
            time.sleep(1.0)
        for row in ours:
            with translate("removing a leftover prearchive entry", target.project):
                session.post("/data/services/prearchive/delete",
                             query={"src": f"/data{row['url']}"})
        with translate("looking up the project", target.project):
            session.clearcache()
            try:
                project = session.projects[target.project]
            except KeyError:
                raise StudyFailed(f"project {target.project} not found on "
                                  f"{public_url(self.url)}, or not visible to this user; check "
                                  "--project / trial.xnat_project, or ask the XNAT admin for "
                                  "access") from None
            try:
                return project.experiments[target.session]
            except KeyError:
                return None

    def _check_identity(self, session: XNATSession, experiment: XNATBaseObject,
                        job: Job) -> None:
        target = job.target
        with translate("reading the existing session", target.project):
            uid, subject_id = experiment.uid, experiment.subject_id
            subjects = session.projects[target.project].subjects
            subject = subjects[target.subject] if target.subject in subjects else None
        where = f"session {target.session} in project {target.project}"
        if uid and uid != job.study.study_uid:
            raise StudyFailed(f"label clash: {where} already holds another study; change "
                              f"session_label in the profile or rename that session in XNAT")
        if subject is None or subject.id != subject_id:
            raise StudyFailed(f"label clash: {where} belongs to another subject; change "
                              f"session_label in the profile or rename that session in XNAT")

    def _upload(self, session: XNATSession, job: Job, mode: str) -> XNATBaseObject:
        target = job.target
        size = job.prepared.stat().st_size
        bar = progress_bar(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                           leave=False, desc=job.study.name, enabled=self.progress)
        def report(position: int) -> None:
            bar.update(position - bar.n)
            job.advance(position)

        try:
            with open(job.prepared, "rb") as handle, \
                    translate("uploading", target.project):
                result = session.services.import_(
                    data=UploadReader(handle, size, report), project=target.project,
                    subject=target.subject, experiment=target.session, overwrite=mode,
                    destination="/archive", import_handler="DICOM-zip",
                    content_type="application/zip", timeout=self.timeout)
        finally:
            bar.close()
        if isinstance(result, PrearchiveSession):
            raise StudyFailed(f"XNAT kept the session in its prearchive ({result.uri}) instead "
                              "of archiving it; archive it in XNAT and re-run to confirm it, or "
                              "ask the XNAT admin to allow direct archiving into the project")
        if result.label != target.session:
            raise StudyFailed(f"XNAT stored the session as {result.label!r}, not "
                              f"{target.session!r}; check the site's import rules")
        return result

    def _compare(self, session: XNATSession, experiment: XNATBaseObject, job: Job) -> _Check:
        """List the session's scans and files and compare them with the local study."""
        study, project = job.study, job.target.project
        base = f"/data/experiments/{experiment.id}"
        with translate("listing the session's files", project):
            scans = session.get_json(f"{base}/scans")["ResultSet"]["Result"]
            rows = session.get_json(f"{base}/scans/ALL/files")["ResultSet"]["Result"] \
                if scans else []
        rows = [r for r in rows if r.get("collection", "DICOM") == "DICOM"]
        check = _Check(len(study.files), len(rows))
        by_md5: dict[str, list[LocalFile]] = defaultdict(list)
        for f in study.files:
            by_md5[f.md5].append(f)
        unmatched = []
        for row in rows:
            same = by_md5.get(row.get("digest") or "")
            if same:
                check.uris[same.pop().sop_uid] = row["URI"]
            else:
                unmatched.append(row)
        if unmatched:
            check.method = "pixel data"
            self._compare_content(session, base, unmatched, study, check, project)
        check.missing = [f.sop_uid for f in study.files if f.sop_uid not in check.uris]
        return check

    def _compare_content(self, session: XNATSession, base: str, rows: list[dict],
                         study: LocalStudy, check: _Check, project: str) -> None:
        """Compare files whose MD5 matched nothing by SOP Instance UID and pixel data digest.

        Each scan holding such files is downloaded once as a zip to a temporary file.
        """
        local = {f.sop_uid: f for f in study.files if f.sop_uid not in check.uris}
        by_scan: dict[str, dict[str, dict]] = defaultdict(dict)
        for row in rows:
            scan = _SCAN_OF.search(row["URI"])
            name = row.get("Name") or row["URI"].rsplit("/", 1)[-1]
            by_scan[scan[1] if scan else "ALL"][name] = row
        header_only = 0
        with self.scratch() as scratch:
            target = Path(scratch) / "scan.zip"
            for scan, wanted in by_scan.items():
                with translate("downloading files to compare", project):
                    session.download_zip(f"{base}/scans/{scan}/files", target, verbose=False,
                                         timeout=self.timeout)
                try:
                    with zipfile.ZipFile(target) as archive:
                        for info in archive.infolist():
                            row = wanted.pop(PurePosixPath(info.filename).name, None)
                            if row is None:
                                continue
                            try:
                                sop_uid, pixels = content_digest(archive.read(info))
                            except Exception:  # pydicom raises many types on damaged files
                                sop_uid, pixels = "", None
                            mine = local.pop(sop_uid, None)
                            if mine is None:
                                check.foreign.append(row.get("Name") or row["URI"])
                                continue
                            if pixels != content_digest(mine.path.read_bytes())[1]:
                                check.different.append(sop_uid)
                            header_only += pixels is None
                            check.uris[sop_uid] = row["URI"]
                except zipfile.BadZipFile:
                    raise Retry(f"the download of scan {scan} is not a zip") from None
                check.foreign.extend(wanted)
        if header_only:
            check.method += f" (SOP UID only for {header_only} file(s) without pixel data)"

    def _share(self, experiment: XNATBaseObject, target: Target) -> None:
        """Share the subject, then the session, into ``target.share_to`` (409: already shared)."""
        if not target.share_to:
            return
        try:
            with translate(f"sharing into {target.share_to}", target.share_to):
                for record, label in ((experiment.subject, target.subject),
                                      (experiment, target.session)):
                    try:
                        record.share(target.share_to, label=label)
                    except XNATResponseError as exc:
                        if exc.status_code != 409:
                            raise
        except StudyFailed as exc:
            raise StudyFailed(f"on the server and confirmed, but {exc.reason}") from None


def push_studies(out: str | os.PathLike, profile: str | os.PathLike | Profile, *, store: Store,
                 **options) -> PushResult:
    """Push every verified study of ``out`` to XNAT; see :class:`XnatPusher` for ``options``."""
    return XnatPusher(out, profile, store=store, **options).push()

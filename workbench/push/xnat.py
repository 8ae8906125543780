"""Push verified studies to XNAT with xnatpy, confirm them and leave a receipt.

One study per zip, written to a temporary file and streamed from disk to
``/data/services/import`` (``DICOM-zip`` handler, ``dest=/archive``) under the
project, subject and session labels that the profile's ``trial:`` block defines.
Every attempt first asks the server what it already holds (archive and
prearchive), so a retry or a re-run never duplicates a session. After the upload
the session's scans and files are listed and compared with the local files: by
MD5 where the server keeps files as sent, else by SOP Instance UID and a digest
of the pixel data (a site script may rewrite header fields on import).

Credentials come from ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc`` (``NETRC``
overrides the file); they are never printed or stored.

Examples
--------
>>> result = push_studies("out", "uk-pet-core-lab", store=Store("state.sqlite"),
...                       url="http://127.0.0.1:8080")            # doctest: +SKIP
>>> result.table                                                    # doctest: +SKIP
>>> result.retry_failed()                                           # doctest: +SKIP
"""

from __future__ import annotations

import io
import netrc
import os
import re
import tempfile
import time
import zipfile
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import requests
import xnat
from tqdm.auto import tqdm
from xnat.core import XNATBaseObject
from xnat.exceptions import XNATError, XNATLoginFailedError, XNATResponseError, XNATUploadError
from xnat.prearchive import PrearchiveSession
from xnat.session import BaseXNATSession, XNATSession

from ..deid.engine import render
from ..errors import FileChanged, ProfileError, PushError
from ..profile import Profile, load_profile
from ..progress import progress_bar
from ..store import Store
from .control import PushController
from .local import LocalFile, LocalStudy, content_digest, find_studies, \
    sanitize_label, write_zip
from .result import CANCELLED, FAILED, HELD, PRESENT, UPLOADED, PushResult, StudyOutcome, \
    now_utc, write_receipts

OVERWRITE = ("none", "append")
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_SETTLED = {"READY", "CONFLICT", "ERROR"}
_PROJECT_ID = re.compile(r"^[\w-]+$")
_SCAN_OF = re.compile(r"/scans/([^/]+)/resources/")


class _Retry(Exception):
    """A step failed in a way that may pass: ask the server what it holds, then retry."""

    def __init__(self, reason: str, relogin: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.relogin = relogin


class _Fail(Exception):
    """A step failed for good for this study."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


@dataclass
class _Job:
    """One study on its way: the zip, the outcome being filled and whether data was sent."""

    study: LocalStudy
    target: Target
    archive: Path
    outcome: StudyOutcome
    sent: bool = False  # an upload was attempted
    credited: int = 0  # bytes counted on the overall progress bar


def public_url(url: str) -> str:
    """The URL without any ``user:password@`` part and trailing slash (safe to print)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def credentials(url: str, login: tuple[str, str] | None = None) -> tuple[str, str]:
    """Login and password for ``url``: ``login`` when given, else from
    ``XNAT_USER``/``XNAT_PASSWORD`` or the netrc file.

    Raises
    ------
    PushError
        When neither source has credentials for the host.
    """
    if login is not None:
        return login
    user, password = os.environ.get("XNAT_USER"), os.environ.get("XNAT_PASSWORD")
    if user and password:
        return user, password
    parts = urlsplit(url)
    hosts = [parts.netloc.rpartition("@")[2], parts.hostname or ""]
    try:
        entries = netrc.netrc(os.environ.get("NETRC") or None)
    except (OSError, netrc.NetrcParseError):
        entries = None
    for host in hosts:
        found = entries.authenticators(host) if entries else None
        if found and found[2] and (not user or found[0] == user):
            return found[0], found[2]
    raise PushError(f"no XNAT credentials for {hosts[0]}: set XNAT_USER and XNAT_PASSWORD, or add "
                    f"'machine {hosts[0]} login NAME password SECRET' to ~/.netrc.")


def _clean(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text or "")
    return re.sub(r"\s+", " ", text).strip()[:300]


def _status(exc: Exception) -> tuple[int | None, str]:
    if isinstance(exc, XNATResponseError):
        return exc.status_code, _clean(exc.text)
    match = re.search(r"Status code (\d+), response text (.*)", str(exc), re.DOTALL)
    return (int(match[1]), _clean(match[2])) if match else (None, _clean(str(exc)))


class Server:
    """An xnatpy session that can log in again after a server restart or expiry."""

    def __init__(self, url: str, timeout: tuple[float, float],
                 login: tuple[str, str] | None) -> None:
        self.url, self.login = url, login
        self.shown = public_url(url)
        self.timeout = timeout
        self.session = self._connect(during_push=False)

    def _connect(self, during_push: bool) -> XNATSession:
        user, password = credentials(self.url, self.login)
        try:
            return xnat.connect(self.url, user=user, password=password, loglevel="ERROR",
                                default_timeout=(self.timeout[0], 120.0))
        except XNATLoginFailedError:
            where = ("the login given" if self.login
                     else "XNAT_USER and XNAT_PASSWORD (or ~/.netrc)")
            raise PushError(f"XNAT at {self.shown} refused the login of {user!r}: check "
                            f"{where}.") from None
        except (requests.RequestException, XNATError) as exc:
            if during_push:
                raise _Retry(f"cannot reach XNAT at {self.shown} ({type(exc).__name__})") from None
            raise PushError(f"cannot reach XNAT at {self.shown} ({type(exc).__name__}: "
                            f"{_clean(str(exc))[:150]}); check the URL and that the server is "
                            "up.") from None

    def relogin(self) -> None:
        """Drop the current session and log in again."""
        self.close()
        self.session = self._connect(during_push=True)

    def close(self) -> None:
        try:
            self.session.disconnect()
        except Exception:  # the server may be gone or restarted: stop the keep-alive anyway
            BaseXNATSession.disconnect(self.session)


class _Reader:
    """Read-only file wrapper that reports the read position (upload progress)."""

    def __init__(self, handle: IO[bytes], size: int, report: Callable[[int], None]) -> None:
        self._handle = handle
        self._size = size
        self._report = report

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        data = self._handle.read(n)
        self._report(self._handle.tell())
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


@contextmanager
def _translate(what: str, project: str) -> Iterator[None]:
    """Turn xnatpy and requests errors into :class:`_Retry` or :class:`_Fail` with a reason."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise _Retry(f"{what}: the connection failed ({type(exc).__name__})") from None
    except (XNATResponseError, XNATUploadError) as exc:
        status, text = _status(exc)
        if status == 401:
            raise _Retry(f"{what}: the server no longer accepts the session (401, restarted "
                         "or expired)", relogin=True) from None
        if status is None or status in _RETRY_STATUS:
            raise _Retry(f"{what}: server error {status}: {text}") from None
        if status == 403:
            raise _Fail(f"{what}: permission denied ({text}); ask an owner of project {project} "
                        "for the member or owner role (collaborators may only read)") from None
        if status == 404:
            raise _Fail(f"{what}: not found on the server ({text})") from None
        raise _Fail(f"{what}: XNAT refused it (HTTP {status}: {text})") from None
    except XNATError as exc:
        raise _Fail(f"{what}: unexpected answer from XNAT ({type(exc).__name__}: "
                    f"{_clean(str(exc))})") from None


class XnatPusher:
    """Push the verified studies of one output folder to one XNAT project.

    Parameters
    ----------
    out
        Output folder of ``workbench deid``.
    profile
        Profile name, path or :class:`~workbench.profile.Profile`; its ``trial:`` block
        gives ``xnat_url`` (optional), ``xnat_project``, ``subject_label``,
        ``session_label``, ``timepoint`` and ``share_to``.
    store
        The state database that verified the outputs.
    url, project, share_to
        Override the profile's server URL, project ID and share project.
    login
        ``(user, password)`` for the server (e.g. asked with ``getpass`` in a notebook);
        by default from ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc``. Never recorded.
    overwrite
        ``none``: never add to a session that existed before this push; ``append``:
        complete such a session (same StudyInstanceUID) with the missing files.
    receipts
        Folder for the receipts (default ``OUT.receipts`` beside OUT; never inside OUT).
    controller
        A :class:`PushController` to pause, resume or cancel between studies.
    progress
        Show tqdm progress bars (per study and overall, bytes per second).
    on_study
        Called with each :class:`StudyOutcome` as soon as the study is done.
    timeout
        ``(connect, read)`` seconds for each upload; other requests read up to 120 s.
    attempts
        Attempts per study for errors that may pass (5xx, dropped connection, restart).
    retry_wait
        Seconds before the second attempt; doubles for each further one.
    settle_timeout
        Seconds to wait for an earlier upload still being processed in the prearchive.
    """

    def __init__(self, out: str | os.PathLike, profile: str | os.PathLike | Profile, *,
                 store: Store, url: str | None = None, project: str | None = None,
                 share_to: str | None = None, login: tuple[str, str] | None = None,
                 overwrite: str = "none",
                 receipts: str | os.PathLike | None = None,
                 controller: PushController | None = None, progress: bool = True,
                 on_study: Callable[[StudyOutcome], None] | None = None,
                 timeout: tuple[float, float] = (10.0, 600.0), attempts: int = 3,
                 retry_wait: float = 2.0, settle_timeout: float = 60.0) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.out = Path(out).resolve()
        if not self.out.is_dir():
            raise PushError(f"output folder {self.out} does not exist; run workbench deid first.")
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
        self.receipts = (Path(receipts).resolve() if receipts
                         else self.out.parent / f"{self.out.name}.receipts")
        if self.receipts == self.out or self.out in self.receipts.parents:
            raise PushError(f"receipts folder {self.receipts} is inside the output {self.out}; "
                            "choose a folder outside it.")
        self.store = store
        self.project, self.share_to, self.overwrite = project, share_to, overwrite
        self.login = login
        self.controller = controller or PushController()
        self.progress, self.on_study = progress, on_study
        self.timeout, self.attempts = timeout, max(1, attempts)
        self.retry_wait, self.settle_timeout = retry_wait, settle_timeout
        self._ours: set[tuple[str, str]] = set()  # sessions this pusher created

    # ------------------------------------------------------------------ the batch
    def push(self, only: Iterable[str] | None = None,
             controller: PushController | None = None) -> PushResult:
        """Push every study of the output folder (or those named in ``only``).

        Parameters
        ----------
        only
            Study keys (``<subject_id>/<study_dir>``, the ``study`` column) to push.
        controller
            Controller for this push instead of the pusher's own.

        Raises
        ------
        PushError
            When the push cannot start (no studies, no credentials, login refused,
            server unreachable) or the login is refused again mid-batch.
        """
        trial = self.profile.trial_key
        controller = controller or self.controller
        studies = find_studies(self.out, self.store, self.profile)
        if only is not None:
            wanted = set(only)
            studies = [s for s in studies if s.name in wanted]
        if not studies and only is None:
            raise PushError(f"no study folders in {self.out}; run workbench deid first.")
        server = Server(self.url, self.timeout, self.login)
        header = {"server": server.shown, "profile": self.profile.name,
                  "profile_hash": self.profile.hash, "overwrite": self.overwrite,
                  "project": self.project or str(self.profile.trial.get("xnat_project")),
                  "started": now_utc()}
        self.store.audit(trial, "push-start", {**header, "studies": len(studies)})
        outcomes: list[StudyOutcome] = []
        finished = 0
        overall = progress_bar(total=sum(s.size for s in studies), unit="B", unit_scale=True,
                               unit_divisor=1024, desc="push", enabled=self.progress)
        scratch = self._scratch()
        zipper = ThreadPoolExecutor(1, thread_name_prefix="workbench-zip")
        zips: dict[int, Future[Path]] = {}

        def prepare(index: int) -> None:
            """Zip study ``index`` in the background while the one before it uploads."""
            if index < len(studies) and not (studies[index].refused or studies[index].held):
                zips[index] = zipper.submit(self._zip, studies[index],
                                            Path(scratch.name) / f"study{index}.zip")

        try:
            prepare(0)
            for index, study in enumerate(studies):
                if not controller.checkpoint():
                    outcome = StudyOutcome(study.subject_id, study.name, study.study_uid,
                                           len(study.files), study.size, CANCELLED,
                                           "push cancelled before this study")
                else:
                    prepare(index + 1)
                    outcome = self._push_study(server, study, zips.pop(index, None), overall)
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
            zipper.shutdown(cancel_futures=True)
            scratch.cleanup()
            overall.close()
            server.close()
            header["finished"] = now_utc()
            receipt_csv, receipt_json = write_receipts(self.receipts, header, outcomes)
            self.store.audit(trial, "push-end", {
                "studies": len(outcomes), "done": sum(o.done for o in outcomes),
                "receipt": receipt_json.name})
        return PushResult(outcomes, receipt_csv, receipt_json, self.push)

    def _push_study(self, server: Server, study: LocalStudy, archive: Future[Path] | None,
                    overall: tqdm) -> StudyOutcome:
        outcome = StudyOutcome(study.subject_id, study.name, study.study_uid, len(study.files),
                               study.size)
        started = time.monotonic()
        if study.held:
            outcome.status, outcome.reason = HELD, study.held
            return outcome
        try:
            if study.refused or archive is None:
                raise _Fail(study.refused or "the study was not zipped")
            target = self._target(study)
            outcome.project, outcome.subject_label = target.project, target.subject
            outcome.session_label = target.session
            path = archive.result()
            try:
                outcome.files_digest = study.manifest_digest()
                self._attempts(server, _Job(study, target, path, outcome), overall)
            finally:
                path.unlink(missing_ok=True)
        except _Fail as exc:
            outcome.status, outcome.reason = FAILED, exc.reason
        outcome.seconds = time.monotonic() - started
        outcome.pushed_at = now_utc()
        return outcome

    @staticmethod
    def _zip(study: LocalStudy, path: Path) -> Path:
        """Write the study's zip to ``path``; a file that changed since verification fails it."""
        try:
            write_zip(study, path)
        except FileChanged as exc:
            raise _Fail(str(exc)) from None
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise _Fail(f"cannot zip the study's files: {exc}") from None
        return path

    def _scratch(self) -> tempfile.TemporaryDirectory:
        """A temporary folder beside OUT (same disk, not RAM-backed /tmp); clean it up after use."""
        return tempfile.TemporaryDirectory(prefix=f".{self.out.name}.push-", dir=self.out.parent)

    def _target(self, study: LocalStudy) -> Target:
        trial = self.profile.trial
        values = dict(study.values)
        try:
            if "timepoint" in trial:
                values["timepoint"] = render(str(trial["timepoint"]), values)
            project = self.project or render(str(trial.get("xnat_project") or ""), values)
            subject = render(str(trial.get("subject_label") or "{subject_id}"), values)
            session = render(str(trial.get("session_label") or "{subject_id}"), values)
            share_to = self.share_to or render(str(trial.get("share_to") or ""), values)
        except ProfileError as exc:
            raise _Fail(f"cannot build the XNAT labels: {exc}") from None
        target = Target(project, sanitize_label(subject), sanitize_label(session), share_to)
        for name, value in (("project", target.project), ("share_to", target.share_to)):
            if value and not _PROJECT_ID.match(value):
                raise _Fail(f"XNAT {name} {value!r} is not a project ID (letters, digits, _ "
                            "and - only)")
        if not (target.project and target.subject and target.session):
            raise _Fail(f"empty XNAT label (project {target.project!r}, subject "
                        f"{target.subject!r}, session {target.session!r}); fix the trial: "
                        f"block of profile {self.profile.name}")
        return target

    def _attempts(self, server: Server, job: _Job, overall: tqdm) -> None:
        relogin, reasons = False, []
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.retry_wait * 2 ** (attempt - 1))
            try:
                if relogin:
                    server.relogin()
                self._attempt(server.session, job, overall)
                if reasons:
                    job.outcome.reason = (f"done on attempt {attempt + 1} after: "
                                          f"{'; '.join(reasons)}")
                return
            except _Retry as exc:
                relogin = exc.relogin
                reasons.append(exc.reason)
        raise _Fail(f"{reasons[-1]} (gave up after {self.attempts} attempts; re-run the same "
                    "push to complete it)")

    # ------------------------------------------------------------------ one attempt
    def _attempt(self, session: XNATSession, job: _Job, overall: tqdm) -> None:
        target, study, outcome = job.target, job.study, job.outcome
        key = (target.project, target.session)
        existing = self._holdings(session, job)
        check = None
        if existing is not None:
            self._check_identity(session, existing, job)
            check = self._confirm(session, existing, job)
            if not check.complete:
                if check.foreign or check.different:
                    raise _Fail(f"session {target.session} in project {target.project} holds "
                                f"other data ({check.problem}); rename or remove it in XNAT")
                if self.overwrite != "append" and key not in self._ours:
                    raise _Fail(f"session {target.session} in project {target.project} already "
                                f"holds {check.found} of {check.expected} files; re-run with "
                                "--overwrite append to add the missing ones")
        if check is None or not check.complete:
            mode = "append" if existing is not None else self.overwrite
            if existing is None:
                self._ours.add(key)
            job.sent = True
            existing = self._upload(session, job, mode, overall)
            check = self._confirm(session, existing, job)
            if not check.complete:
                raise _Retry(f"confirmation failed after the upload: {check.problem}")
        self._share(session, existing, target)
        self._write_flags(session, existing, job, check)
        outcome.status = UPLOADED if job.sent else PRESENT
        outcome.confirmed_by = check.method
        outcome.session_uri = (f"/data/projects/{target.project}/subjects/{target.subject}"
                               f"/experiments/{target.session}")
        outcome.file_records = [{"sop_uid": f.sop_uid, "md5": f.md5, "uri": check.uris[f.sop_uid]}
                                for f in study.files]

    def _write_flags(self, session: XNATSession, experiment: XNATBaseObject, job: _Job,
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
            with _translate(f"writing the QC flag of scan {scan[1]}", job.target.project):
                session.put(f"/data/experiments/{experiment.id}/scans/{scan[1]}",
                            query={"xnat:imageScanData/quality": row["flag"]})

    def _holdings(self, session: XNATSession, job: _Job) -> XNATBaseObject | None:
        """The archived session with the target's label (or None), after clearing leftovers.

        Prearchive entries of this study (same StudyInstanceUID) still being processed
        are waited for; settled ones (READY, CONFLICT, ERROR) are leftovers of failed
        uploads and are deleted so that the next upload cannot duplicate them.
        """
        target, study = job.target, job.study
        deadline = time.monotonic() + self.settle_timeout
        while True:
            with _translate("listing the prearchive", target.project):
                rows = session.get_json(
                    f"/data/prearchive/projects/{target.project}")["ResultSet"]["Result"]
            ours = [r for r in rows if r.get("tag") == study.study_uid or (
                not r.get("tag") and r.get("name") == target.session
                and r.get("subject") == target.subject)]
            busy = [r for r in ours if r.get("status") not in _SETTLED]
            if not busy:
                break
            if time.monotonic() > deadline:
                raise _Retry("the server is still processing an earlier upload of this session "
                             f"(prearchive status {busy[0].get('status')})")
            time.sleep(1.0)
        for row in ours:
            with _translate("removing a leftover prearchive entry", target.project):
                session.post("/data/services/prearchive/delete",
                             query={"src": f"/data{row['url']}"})
        with _translate("looking up the project", target.project):
            session.clearcache()
            try:
                project = session.projects[target.project]
            except KeyError:
                raise _Fail(f"project {target.project} not found on {public_url(self.url)}, or "
                            "not visible to this user; check --project / trial.xnat_project, "
                            "or ask the XNAT admin for access") from None
            try:
                return project.experiments[target.session]
            except KeyError:
                return None

    def _check_identity(self, session: XNATSession, experiment: XNATBaseObject,
                        job: _Job) -> None:
        target = job.target
        with _translate("reading the existing session", target.project):
            uid, subject_id = experiment.uid, experiment.subject_id
            subjects = session.projects[target.project].subjects
            subject = subjects[target.subject] if target.subject in subjects else None
        where = f"session {target.session} in project {target.project}"
        if uid and uid != job.study.study_uid:
            raise _Fail(f"label clash: {where} already holds another study; change "
                        f"session_label in the profile or rename that session in XNAT")
        if subject is None or subject.id != subject_id:
            raise _Fail(f"label clash: {where} belongs to another subject; change "
                        f"session_label in the profile or rename that session in XNAT")

    def _upload(self, session: XNATSession, job: _Job, mode: str,
                overall: tqdm) -> XNATBaseObject:
        target = job.target
        size = job.archive.stat().st_size
        bar = progress_bar(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                           leave=False, desc=job.study.name, enabled=self.progress)

        total = job.study.size

        def report(position: int) -> None:
            bar.update(position - bar.n)
            gain = min(position, total) - job.credited
            if gain > 0:
                job.credited += gain
                overall.update(gain)

        try:
            with open(job.archive, "rb") as handle, \
                    _translate("uploading", target.project):
                result = session.services.import_(
                    data=_Reader(handle, size, report), project=target.project,
                    subject=target.subject, experiment=target.session, overwrite=mode,
                    destination="/archive", import_handler="DICOM-zip",
                    content_type="application/zip", timeout=self.timeout)
        finally:
            bar.close()
        if isinstance(result, PrearchiveSession):
            raise _Fail(f"XNAT kept the session in its prearchive ({result.uri}) instead of "
                        "archiving it; archive it in XNAT and re-run to confirm it, or ask the "
                        "XNAT admin to allow direct archiving into the project")
        if result.label != target.session:
            raise _Fail(f"XNAT stored the session as {result.label!r}, not {target.session!r}; "
                        "check the site's import rules")
        return result

    def _confirm(self, session: XNATSession, experiment: XNATBaseObject, job: _Job) -> _Check:
        """List the session's scans and files and compare them with the local study."""
        study, project = job.study, job.target.project
        base = f"/data/experiments/{experiment.id}"
        with _translate("listing the session's files", project):
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
        with self._scratch() as scratch:
            target = Path(scratch) / "scan.zip"
            for scan, wanted in by_scan.items():
                with _translate("downloading files to compare", project):
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
                    raise _Retry(f"the download of scan {scan} is not a zip") from None
                check.foreign.extend(wanted)
        if header_only:
            check.method += f" (SOP UID only for {header_only} file(s) without pixel data)"

    def _share(self, session: XNATSession, experiment: XNATBaseObject, target: Target) -> None:
        """Share the subject, then the session, into ``target.share_to`` (409: already shared)."""
        if not target.share_to:
            return
        try:
            with _translate(f"sharing into {target.share_to}", target.share_to):
                for record, label in ((experiment.subject, target.subject),
                                      (experiment, target.session)):
                    try:
                        record.share(target.share_to, label=label)
                    except XNATResponseError as exc:
                        if exc.status_code != 409:
                            raise
        except _Fail as exc:
            raise _Fail(f"on the server and confirmed, but {exc.reason}") from None


def push_studies(out: str | os.PathLike, profile: str | os.PathLike | Profile, *, store: Store,
                 **options) -> PushResult:
    """Push every verified study of ``out`` to XNAT; see :class:`XnatPusher` for ``options``."""
    return XnatPusher(out, profile, store=store, **options).push()

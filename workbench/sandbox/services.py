"""Import service (``/data/services/import``), archiving and the prearchive.

``POST /data/services/import`` stages a DICOM upload into the prearchive or the archive by
XNAT's rules; ``/data/services/archive`` and ``/data/services/prearchive/{action}`` act on
prearchive entries, and ``/data/prearchive/projects/...`` browses them.
"""

from __future__ import annotations

import re
import secrets
import shutil
from urllib.parse import quote

from .auth import require, require_prearchive
from .dicomimport import ParsedUpload, StagedSession, UnparsableUpload, parse_upload
from .faults import Faults
from .protocol import OCTET, Request, Response, result_set, text, zip_response
from .sessions import (archive_status, check_overwrite, prearchive_row, to_archive,
                       to_prearchive)
from .store import UNASSIGNED, Record, SandboxError, Store, sanitize_label


def _parse_src(src: str) -> tuple[str, str, str]:
    match = re.match(r"^(?:/data)?/prearchive/projects/([^/]+)/([^/]+)/([^/?]+)/?$", src or "")
    if match is None:
        raise SandboxError(400, f"Invalid prearchive source: {src!r}")
    return match.group(1), match.group(2), match.group(3)


def _import_target(req: Request) -> tuple[str, str | None, str | None, str | None]:
    """Destination kind and the project, subject and session given by the request."""
    query = req.query
    dest = query.get("dest", "")
    match = re.match(r"^/(archive|prearchive)(?:/projects/([^/]+)(?:/subjects/([^/]+)"
                     r"(?:/experiments/([^/]+))?)?)?/?$", dest)
    if dest and match is None:
        raise SandboxError(400, "Parameter dest format error")
    kind, project, subject, session = match.groups() if match else ("", None, None, None)
    return (kind, query.get("project") or query.get("PROJECT_ID") or project,
            query.get("subject") or query.get("SUBJECT_ID") or subject,
            query.get("session") or query.get("EXPT_LABEL") or session)


class Services:
    """Handlers of the import and prearchive services.

    Parameters
    ----------
    store
        Persistent state.
    faults
        Fault switches; only ``site_anonymization`` is read here.
    """

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    # ------------------------------------------------------------------ import
    def import_upload(self, req: Request) -> Response:
        """``POST /data/services/import``."""
        store, query = self.store, req.query
        overwrite = check_overwrite(query.get("overwrite", "none"))
        handler = query.get("import-handler", "DICOM-zip")
        if handler not in ("DICOM-zip", "SI"):
            raise SandboxError(400, f"Unsupported import handler: {handler}")
        kind, project_key, subject_key, session_key = _import_target(req)
        with store.lock:
            project = store.find_project(project_key) if project_key else None
        if project is not None:
            require(store.can_write(project, req.user), req,
                    f"upload data to project {project['ID']}")
        workdir = store.tmp_dir / secrets.token_hex(8)
        workdir.mkdir()
        try:
            body = workdir / "upload"
            req.body.save(body)
            try:
                parsed = parse_upload(body, workdir, req.flag("Ignore-Unparsable"))
            except UnparsableUpload as error:
                if len(error.partial.studies) == 1:
                    self._stage(req, error.partial, project, subject_key, session_key, "ERROR")
                raise
            return self._stage(req, parsed, project, subject_key, session_key, kind, overwrite)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    def _stage(self, req: Request, parsed: ParsedUpload, project: Record | None,
               subject_key: str | None, session_key: str | None, kind: str,
               overwrite: str = "none") -> Response:
        """Label a parsed upload and put it into the prearchive or the archive.

        ``kind`` is ``archive``, ``prearchive``, ``""`` (project setting decides) or
        ``ERROR`` (store a failed partial upload in the prearchive).
        """
        store = self.store
        candidates, dicom_subject, dicom_session = parsed.routing()
        if project is None:
            with store.lock:
                project = next((p for key in candidates if (p := store.find_project(key))
                                and store.can_write(p, req.user)), None)
        pid = project["ID"] if project else UNASSIGNED
        subject = sanitize_label(subject_key or dicom_subject or "")
        label = sanitize_label(session_key or dicom_session or "") or "dicom_upload"
        staged = parsed.build(pid, subject, label, self.faults.site_anonymization)
        code = project["prearchive_code"] if project else 0
        archive = kind == "archive" or (kind == "" and code in (4, 5))
        if kind == "" and code == 5 and "overwrite" not in req.query:
            overwrite = "delete"
        with store.lock:
            if kind == "ERROR" or not archive or project is None:
                status = "ERROR" if kind == "ERROR" else (
                    archive_status(store, pid, label) if project else "READY")
                entry = to_prearchive(store, staged, pid, subject, label, status, req.user)
                store.save()
                if archive and project is None:
                    raise SandboxError(400, "unable to identify destination project")
                return text(f"/data{entry['url']}\r\n")
            try:
                experiment = to_archive(store, staged, project, subject, label, overwrite, req.user)
            except SandboxError as error:
                if error.status == 409 or not subject:
                    entry = to_prearchive(store, staged, pid, subject, label,
                                          "CONFLICT" if error.status == 409 else "READY", req.user)
                    store.save()
                    if kind == "":
                        return text(f"/data{entry['url']}\r\n")
                raise
            store.save()
            return text(self._archive_uri(experiment, pid) + "\r\n")

    def archive(self, req: Request) -> Response:
        """``POST /data/services/archive``: archive a prearchive entry."""
        store, query = self.store, req.query
        overwrite = check_overwrite(query.get("overwrite", "none"))
        with store.lock:
            entry = store.prearchive_entry(*_parse_src(query.get("src", "")))
            require_prearchive(store, req, entry)
            project_key = query.get("project") or entry["project"]
            project = store.find_project(project_key) if project_key != UNASSIGNED else None
            if project is None:
                raise SandboxError(400, "unable to identify destination project")
            require(store.can_write(project, req.user), req,
                    f"archive data into project {project['ID']}")
            if entry["status"] not in ("READY", "CONFLICT"):
                raise SandboxError(409, f"Session is {entry['status']} and cannot be archived")
            subject = sanitize_label(query.get("subject") or entry["subject"])
            label = sanitize_label(query.get("session") or entry["name"])
            staged = StagedSession.from_record(store.prearchive_path(entry), entry["session"])
            try:
                experiment = to_archive(store, staged, project, subject, label, overwrite, req.user)
            except SandboxError as error:
                if error.status == 409:
                    entry["status"] = "CONFLICT"
                    store.touch()
                    store.save()
                raise
            store.remove_prearchive(entry)
            store.save()
            return text(self._archive_uri(experiment, project["ID"]))


    def _archive_uri(self, experiment: Record, pid: str) -> str:
        subject = self.store.data["subjects"][experiment["subject_ID"]]
        return (f"/data/archive/projects/{pid}/subjects/{self.store.subject_label(subject, pid)}"
                f"/experiments/{self.store.experiment_label(experiment, pid)}")

    # ------------------------------------------------------------------ prearchive actions
    def manage(self, req: Request, action: str) -> Response:
        """``POST /data/services/prearchive/{delete|move|rebuild}?src=...``."""
        store = self.store
        with store.lock:
            entry = store.prearchive_entry(*_parse_src(req.query.get("src", "")))
            require_prearchive(store, req, entry)
            if action == "delete":
                store.remove_prearchive(entry)
            elif action == "rebuild":
                if entry["project"] != UNASSIGNED and entry["status"] != "ERROR":
                    entry["status"] = archive_status(store, entry["project"], entry["name"])
                    store.touch()
            else:
                project = store.project(req.query.get("newProject", ""))
                require(store.can_write(project, req.user), req,
                        f"move sessions into {project['ID']}")
                old_path = store.prearchive_path(entry)
                store.remove_prearchive(entry, delete_files=False)
                entry["project"] = project["ID"]
                entry["timestamp"] = store.new_prearchive_stamp(project["ID"], entry["name"])
                entry["url"] = "/prearchive/projects/{project}/{timestamp}/{name}".format(**entry)
                entry["status"] = archive_status(store, project["ID"], entry["name"])
                new_path = store.prearchive_path(entry)
                new_path.parent.mkdir(parents=True, exist_ok=True)
                old_path.rename(new_path)
                store.add_prearchive(entry)
            store.save()
        return text("")

    # ------------------------------------------------------------------ prearchive browsing
    def listing(self, req: Request, project: str | None = None) -> Response:
        """``/data/prearchive/projects[/{project}]``: entries the user may manage."""
        store = self.store
        with store.lock:
            rows = []
            for entry in store.prearchive_entries(project):
                try:
                    require_prearchive(store, req, entry)
                except SandboxError:
                    continue
                rows.append(prearchive_row(entry))
            return result_set(rows, req.format)

    def _entry(self, req: Request, project: str, stamp: str, name: str) -> Record:
        entry = self.store.prearchive_entry(project, stamp, name)
        require_prearchive(self.store, req, entry)
        return entry

    def delete(self, req: Request, project: str, stamp: str, name: str) -> Response:
        """``DELETE /data/prearchive/projects/{project}/{stamp}/{name}``."""
        store = self.store
        with store.lock:
            store.remove_prearchive(self._entry(req, project, stamp, name))
            store.save()
            return text("")

    def content(self, req: Request, project: str, stamp: str, name: str) -> Response:
        """``/data/prearchive/projects/{project}/{stamp}/{name}/...``: scans and files."""
        with self.store.lock:
            entry = self._entry(req, project, stamp, name)
            return self._content(req, entry, req.segments[6:])

    def _content(self, req: Request, entry: Record, rest: list[str]) -> Response:
        root = self.store.prearchive_path(entry)
        scans = entry["session"]["scans"]
        if len(rest) >= 2 and rest[0] == "scans":
            scans = [s for s in scans if s["ID"] == rest[1]]
            if not scans:
                raise SandboxError(404, f"Unable to find scan {rest[1]}")
        files = [(s["ID"], name, info) for s in scans for name, info in sorted(s["files"].items())]
        if len(rest) == 6 and rest[2:5] == ["resources", "DICOM", "files"]:
            if not any(name == rest[5] for _, name, _ in files):
                raise SandboxError(404, f"File not found: {rest[5]}")
            return Response(content_type=OCTET, file=root / "SCANS" / rest[1] / "DICOM" / rest[5])
        if req.format == "zip":
            members = [(f"{entry['name']}/SCANS/{scan_id}/DICOM/{name}",
                        root / "SCANS" / scan_id / "DICOM" / name) for scan_id, name, _ in files]
            return zip_response(members, entry["name"])
        if not rest:
            return result_set([prearchive_row(entry)], req.format)
        if rest == ["scans"]:
            rows = [{"ID": s["ID"], "xsiType": s["xsiType"], **s["fields"]} for s in scans]
            return result_set(rows, req.format)
        if len(rest) == 3 and rest[2] == "resources":
            size = sum(info["size"] for _, _, info in files)
            return result_set([{"label": "DICOM", "file_count": str(len(files)),
                                "file_size": str(size)}], req.format)
        if len(rest) == 5 and rest[2:] == ["resources", "DICOM", "files"]:
            base = f"/data{entry['url']}/scans/{rest[1]}/resources/DICOM/files"
            rows = [{"Name": name, "Size": str(info["size"]), "URI": f"{base}/{quote(name)}"}
                    for _, name, info in files]
            return result_set(rows, req.format)
        raise SandboxError(404, f"Not found: {req.path}")

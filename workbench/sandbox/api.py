"""XNAT REST endpoints of the sandbox, as xnatpy 0.8 and pyxnat 1.6 use them.

Paths under ``/data/archive/`` and ``/REST/`` are the same as under ``/data/``. In project
context, subject and experiment path segments may be an accession ID or the label the
object has in that project (shared objects carry a per-project label).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import secrets
import shutil
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, quote

from .dicomimport import ParsedUpload, StagedSession, UnparsableUpload, parse_upload
from .faults import Faults
from .protocol import (HTML, JSON, OCTET, XML, ZIP, Request, Response, html, json_response,
                       result_set, text)
from .schemas import OTHER_SCAN_TYPE, OTHER_SESSION_TYPE, SCAN_TYPES, SCHEMAS, SESSION_TYPES
from .sessions import (archive_status, check_overwrite, prearchive_row, to_archive,
                       to_prearchive)
from .store import (GROUPS, ROLES, UNASSIGNED, Owner, Record, SandboxError, Store, check_label,
                    sanitize_label)

XNAT_VERSION = "1.8.10"
NOTICE = ("workbench sandbox XNAT: a stand-in for tests, demos and Binder, "
          "not a home for real data")
LOGIN_FAILED = "Login attempt failed. Please try again."
AUTH_REQUIRED = "The request requires user authentication"
MAX_SESSIONS = 10_000
SESSION_XSI_TYPES = {*SESSION_TYPES.values(), OTHER_SESSION_TYPE}
SCAN_XSI_TYPES = {*SCAN_TYPES.values(), OTHER_SCAN_TYPE}
_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
#: Query parameters that are options, not object fields.
_OPTIONS = {
    "xsiType", "req_format", "format", "label", "ID", "id", "event_reason", "event_type",
    "event_action", "event_comment", "activate", "quarantine", "removeFiles", "allowDataDeletion",
    "inbody", "overwrite", "extract", "content", "tags", "primary", "columns", "accessibility",
    "subject_ID",
}


@dataclass
class Target:
    """Objects named by an archive path, and the unresolved rest of the path."""

    project: Record | None = None
    subject: Record | None = None
    experiment: Record | None = None
    scan: Record | None = None
    scans: list[Record] | None = None
    resource: Record | None = None
    tail: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """Deepest resolved object kind."""
        for name in ("resource", "scan", "scans", "experiment", "subject", "project"):
            if getattr(self, name) is not None:
                return name
        return "root"


def _meta(xsi_type: str, insert_date: str = "") -> dict:
    meta = {"xsi:type": xsi_type, "isHistory": False, "create_event_id": 1}
    if insert_date:
        meta["start_date"] = insert_date
    return meta


def _items(xsi_type: str, data_fields: dict, children: list | None = None,
           insert_date: str = "") -> Response:
    item = {"children": children or [], "meta": _meta(xsi_type, insert_date),
            "data_fields": data_fields}
    return json_response({"items": [item]})


def _fields_from_query(query: dict[str, str]) -> dict[str, str]:
    """Object fields set in the query string: ``<xsiType>/<field>=value`` or ``field=value``."""
    fields = {}
    for key, value in query.items():
        name = key.split("/", 1)[1] if "/" in key and ":" in key.split("/", 1)[0] else key
        if key in _OPTIONS or name in _OPTIONS:
            continue
        fields[name] = value
    return fields


def _query_value(query: dict[str, str], name: str) -> str | None:
    """Value of ``name`` given plainly or as ``<xsiType>/<name>``."""
    if name in query:
        return query[name]
    return next((v for k, v in query.items() if k.split("/", 1)[-1] == name and ":" in k), None)


def _update_fields(record: Record, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        if value == "NULL":
            record["fields"].pop(name, None)
        else:
            record["fields"][name] = value


def _parse_src(src: str) -> tuple[str, str, str]:
    match = re.match(r"^(?:/data)?/prearchive/projects/([^/]+)/([^/]+)/([^/?]+)/?$", src or "")
    if match is None:
        raise SandboxError(400, f"Invalid prearchive source: {src!r}")
    return match.group(1), match.group(2), match.group(3)


def _write_zip(out: IO[bytes], members: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, path in members:
            archive.write(path, name)


def _zip(members: list[tuple[str, Path]], name: str) -> Response:
    return Response(content_type=ZIP, writer=lambda out: _write_zip(out, members),
                    headers=[("Content-Disposition", f'attachment; filename="{name}.zip"')])


class Api:
    """Request handlers; one instance serves all threads of a sandbox server.

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
        self._sessions: dict[str, str] = {}
        self._sessions_lock = threading.Lock()

    # ================================================================== entry point
    def handle(self, req: Request) -> Response:
        """Answer one request (the body may still be unread)."""
        segs = req.segments
        if not segs:
            return self._home()
        if segs == ["data", "services", "auth"] and req.method in ("PUT", "POST"):
            return self._login(req)
        if segs == ["data", "version"]:
            raise SandboxError(404, "Not found")
        if segs[:3] == ["xapi", "siteConfig", "buildInfo"]:
            return json_response({"version": XNAT_VERSION, "buildNumber": "sandbox",
                                  "commit": "", "sandbox": NOTICE})
        self._authenticate(req)
        response = self._route(req)
        if req.token and req.cookies.get("JSESSIONID") != req.token:
            response.headers.append(("Set-Cookie", f"JSESSIONID={req.token}; Path=/; HttpOnly"))
        return response

    def _home(self) -> Response:
        page = (f"<html><head><title>Sandbox XNAT</title></head><body><h1>Sandbox XNAT</h1>"
                f"<p>{NOTICE}.</p><p>REST API under <code>/data</code> and <code>/xapi</code>."
                f"</p></body></html>")
        return Response(200, page.encode(), HTML)

    # ================================================================== authentication
    def _new_session(self, login: str) -> str:
        token = secrets.token_hex(16).upper()
        with self._sessions_lock:
            self._sessions[token] = login
            while len(self._sessions) > MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        return token

    def _login(self, req: Request) -> Response:
        form = parse_qs(req.body.read_all(1 << 16).decode("utf-8", "replace"))
        login = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        if not self.store.verify(login, password):
            return html("Status page", LOGIN_FAILED, 401)
        token = self._new_session(login)
        response = text(token)
        response.headers.append(("Set-Cookie", f"JSESSIONID={token}; Path=/; HttpOnly"))
        return response

    def _authenticate(self, req: Request) -> None:
        token = req.cookies.get("JSESSIONID")
        with self._sessions_lock:
            login = self._sessions.get(token or "")
        if login is not None:
            req.user, req.token = login, token
            return
        header = req.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                login, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                login, password = "", ""
            if self.store.verify(login, password):
                req.user, req.token = login, self._new_session(login)
                return
        raise SandboxError(401, AUTH_REQUIRED)

    def logout(self, token: str | None) -> None:
        """Invalidate a session token."""
        with self._sessions_lock:
            self._sessions.pop(token or "", None)

    # ================================================================== routing
    def _route(self, req: Request) -> Response:
        segs = req.segments
        method = req.method
        if segs == ["data", "JSESSION"]:
            if method == "DELETE":
                self.logout(req.token)
                req.token = None
                return text("")
            return text(req.token or "")
        if segs == ["data", "auth"]:
            return text(f"User '{req.user}' is logged in")
        if segs[:1] == ["xapi"]:
            return self._xapi(req, segs[1:])
        if segs[:3] == ["data", "search", "elements"]:
            return result_set([], req.format)
        if segs[:2] == ["data", "services"] and method == "POST":
            return self._service(req, segs[2:])
        if segs[:2] == ["data", "prearchive"]:
            return self._prearchive(req, segs[2:])
        if segs == ["data", "users"]:
            return result_set([self._user_row(login) for login in sorted(self.store.data["users"])],
                              req.format)
        if len(segs) >= 2 and segs[0] == "data" and segs[1] in ("projects", "subjects",
                                                                  "experiments"):
            if method in ("PUT", "POST") and req.body.present:
                req.upload = self.store.tmp_dir / secrets.token_hex(8)
                req.body.save(req.upload)
            try:
                with self.store.lock:
                    response = self._archive(req, self._resolve(req))
                    self.store.save()
                    return response
            finally:
                if req.upload is not None:
                    req.upload.unlink(missing_ok=True)
        raise SandboxError(404, f"Not found: {req.path}")

    # ================================================================== permissions
    def _project_of(self, record: Record) -> Record:
        return self.store.data["projects"][record["project"]]

    def _require(self, allowed: bool, req: Request, action: str) -> None:
        if not allowed:
            raise SandboxError(403, f"User {req.user} has insufficient privileges to {action}.")

    def _require_read(self, req: Request, record: Record) -> None:
        projects = [self._project_of(record)] + [
            self.store.data["projects"][pid] for pid in record.get("shares", {})
            if pid in self.store.data["projects"]]
        self._require(any(self.store.can_read(p, req.user) for p in projects), req,
                      f"read {record.get('label', record['ID'])}")

    def _home_project(self, target: Target) -> Record:
        record = target.experiment or target.subject
        return self._project_of(record) if record is not None else target.project

    def _context_pid(self, target: Target) -> str:
        return (target.project or self._home_project(target))["ID"]

    def _owner(self, target: Target) -> Owner:
        if target.scan is not None:
            return ("scan", target.experiment["ID"], target.scan["ID"])
        if target.experiment is not None:
            return ("experiment", target.experiment["ID"])
        if target.subject is not None:
            return ("subject", target.subject["ID"])
        return ("project", target.project["ID"])

    # ================================================================== path resolution
    def _resolve(self, req: Request) -> Target:
        store = self.store
        segs = req.segments[1:]
        target = Target()
        index = 0
        while index + 1 < len(segs):
            kind, key = segs[index], segs[index + 1]
            level = target.level
            found: Record | list | None
            if kind == "projects" and level == "root":
                found = store.data["projects"].get(key)
                if found is not None:
                    self._require(store.can_read(found, req.user), req, f"access project {key}")
                attr = "project"
            elif kind == "subjects" and level in ("root", "project"):
                found = store.find_subject(target.project and target.project["ID"], key)
                if found is not None and target.project is None:
                    self._require_read(req, found)
                attr = "subject"
            elif kind == "experiments" and level in ("root", "project", "subject"):
                pid = target.project["ID"] if target.project else (
                    target.subject["project"] if target.subject else None)
                found = store.find_experiment(pid, key, target.subject)
                if found is not None and target.project is None and target.subject is None:
                    self._require_read(req, found)
                attr = "experiment"
            elif kind == "scans" and level == "experiment":
                scans = target.experiment["scans"]
                if key == "ALL" or "," in key:
                    names = list(scans) if key == "ALL" else key.split(",")
                    found = [scans[n] for n in names if n in scans]
                    attr = "scans"
                else:
                    found = scans.get(key)
                    attr = "scan"
            elif kind == "resources" and level in ("project", "subject", "experiment", "scan"):
                owner = self._owner(target)
                found = store.find_resource(owner, key)
                if (found is None and req.method in ("PUT", "POST") and index + 2 < len(segs)
                        and segs[index + 2] == "files"):
                    self._require(store.can_write(self._home_project(target), req.user), req,
                                  "create resources")
                    found = store.create_resource(owner, key, req.query.get("format", ""),
                                                  req.query.get("content", ""),
                                                  req.query.get("tags", ""))
                attr = "resource"
            else:
                break
            if found is None:
                if index + 2 == len(segs):
                    break
                raise SandboxError(404, f"Unable to find {kind[:-1]} {key}")
            setattr(target, attr, found)
            index += 2
        target.tail = segs[index:]
        return target

    # ================================================================== archive objects
    def _archive(self, req: Request, t: Target) -> Response:
        level, tail, method = t.level, t.tail, req.method
        if level == "root":
            return self._root(req, tail)
        if tail == ["files"] or (len(tail) > 1 and tail[0] == "files"):
            return self._files(req, t, "/".join(tail[1:]))
        if tail and tail[0] == "resources" and level != "resource":
            return self._resources(req, t, tail[1:])
        if level == "project":
            return self._project(req, t, tail)
        if level == "subject":
            return self._subject(req, t, tail)
        if level == "experiment":
            return self._experiment(req, t, tail)
        if level == "scan" and not tail:
            return self._scan(req, t)
        if level == "resource" and not tail:
            return self._resource(req, t)
        raise SandboxError(404 if method in ("GET", "HEAD") else 405,
                           f"Unsupported request {method} {req.path}")

    def _root(self, req: Request, tail: list[str]) -> Response:
        store, user = self.store, req.user
        if tail == ["projects"] and req.method == "GET":
            rows = [self._project_row(p) for p in store.data["projects"].values()
                    if store.can_see(p, user)]
            return result_set(rows, req.format)
        if tail == ["subjects"] and req.method == "GET":
            rows = [self._subject_row(s, s["project"]) for s in store.data["subjects"].values()
                    if store.can_read(self._project_of(s), user)]
            return result_set(rows, req.format)
        if tail == ["experiments"] and req.method == "GET":
            rows = [self._experiment_row(e, e["project"])
                    for e in store.data["experiments"].values()
                    if store.can_read(self._project_of(e), user)]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "projects" and req.method == "PUT":
            fields = _fields_from_query(req.query)
            project = store.create_project(tail[1], user, fields,
                                           req.query.get("accessibility", "private"))
            return text(project["ID"])
        raise SandboxError(404, f"Unable to find {'/'.join(tail)}")

    # ------------------------------------------------------------------ projects
    def _project(self, req: Request, t: Target, tail: list[str]) -> Response:
        store, project, method = self.store, t.project, req.method
        pid = project["ID"]
        if not tail:
            if method == "GET":
                data = {"ID": pid, "name": project["name"], "secondary_ID": project["secondary_ID"],
                        "description": project["description"], **project["fields"]}
                return _items("xnat:projectData", data, insert_date=project["insert_date"])
            if method == "PUT":
                self._require(store.role(project, req.user) == "owner", req, f"edit project {pid}")
                fields = _fields_from_query(req.query)
                for key in ("name", "secondary_ID", "description"):
                    if key in fields:
                        project[key] = fields.pop(key)
                _update_fields(project, fields)
                if "accessibility" in req.query:
                    self._set_accessibility(project, req.query["accessibility"])
                store.touch()
                return text(pid)
            if method == "DELETE":
                self._require(store.can_delete(project, req.user), req, f"delete project {pid}")
                store.delete_project(project)
                return text("")
        if tail == ["subjects"] and method == "GET":
            return result_set([self._subject_row(s, pid) for s in store.project_subjects(pid)],
                              req.format)
        if len(tail) == 2 and tail[0] == "subjects" and method == "PUT":
            self._require(store.can_write(project, req.user), req, f"create subjects in {pid}")
            fields = _fields_from_query(req.query)
            subject = store.create_subject(project, tail[1], req.user, fields)
            return text(subject["ID"])
        if tail == ["experiments"] and method == "GET":
            rows = [self._experiment_row(e, pid) for e in store.project_experiments(pid)]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "experiments" and method == "PUT":
            subject_key = _query_value(req.query, "subject_ID")
            subject = store.find_subject(pid, subject_key) if subject_key else None
            if subject is None:
                raise SandboxError(400, "A subject_ID is required to create an experiment here")
            return self._create_experiment(req, project, subject, tail[1])
        if tail and tail[0] == "users":
            return self._project_users(req, project, tail[1:])
        if tail and tail[0] in ("prearchive_code", "accessibility"):
            return self._project_setting(req, project, tail)
        raise SandboxError(404, f"Unsupported request {method} {req.path}")

    def _set_accessibility(self, project: Record, value: str) -> None:
        if value not in ("private", "protected", "public"):
            raise SandboxError(400, f"Invalid accessibility: {value}")
        project["accessibility"] = value
        self.store.touch()

    def _project_setting(self, req: Request, project: Record, tail: list[str]) -> Response:
        name = tail[0]
        if len(tail) == 1 and req.method == "GET":
            return text(str(project[name]))
        if len(tail) == 2 and req.method == "PUT":
            self._require(self.store.role(project, req.user) == "owner", req,
                          f"change {name} of {project['ID']}")
            if name == "prearchive_code":
                if tail[1] not in ("0", "4", "5"):
                    raise SandboxError(400, f"Invalid prearchive code: {tail[1]}")
                project[name] = int(tail[1])
                self.store.touch()
            else:
                self._set_accessibility(project, tail[1])
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    def _user_row(self, login: str, project: Record | None = None) -> dict[str, str]:
        row = {"login": login, "firstname": "", "lastname": "", "email": "",
               "xdat_user_id": login, "enabled": "true"}
        if project is not None:
            role = project["roles"][login]
            row.update({"displayname": GROUPS[role], "GROUP_ID": f"{project['ID']}_{role}"})
        return row

    def _project_users(self, req: Request, project: Record, rest: list[str]) -> Response:
        if not rest and req.method == "GET":
            rows = [self._user_row(login, project) for login in sorted(project["roles"])]
            return result_set(rows, req.format)
        if len(rest) == 2 and req.method in ("PUT", "DELETE"):
            self._require(self.store.role(project, req.user) == "owner", req,
                          f"manage users of {project['ID']}")
            group = rest[0].lower().rstrip("s")
            if req.method == "PUT" and group not in ROLES:
                raise SandboxError(
                    400, f"Unknown group {rest[0]}; use Owners, Members or Collaborators")
            self.store.set_role(project["ID"], rest[1], group if req.method == "PUT" else None)
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    # ------------------------------------------------------------------ subjects
    def _subject(self, req: Request, t: Target, tail: list[str]) -> Response:
        store, subject, method = self.store, t.subject, req.method
        pid = self._context_pid(t)
        home = self._project_of(subject)
        if not tail:
            if method == "GET":
                data = {**subject["fields"], "ID": subject["ID"], "label": subject["label"],
                        "project": subject["project"], "insert_date": subject["insert_date"],
                        "insert_user": subject["insert_user"]}
                return _items("xnat:subjectData", data, self._share_children(subject),
                              subject["insert_date"])
            if method == "PUT":
                self._require(store.can_write(home, req.user), req, f"edit subject {subject['ID']}")
                self._relabel(req, subject, pid, "subject")
                _update_fields(subject, _fields_from_query(req.query))
                store.touch()
                return text(subject["ID"])
            if method == "DELETE":
                if pid != subject["project"]:
                    self._require(store.can_delete(store.data["projects"][pid], req.user), req,
                                  f"remove subject {subject['ID']} from {pid}")
                    store.unshare(subject, store.data["projects"][pid])
                else:
                    self._require(store.can_delete(home, req.user), req,
                                  f"delete subject {subject['ID']}")
                    store.delete_subject(subject)
                return text("")
        if tail == ["experiments"] and method == "GET":
            rows = [self._experiment_row(e, pid) for e in store.project_experiments(pid, subject)]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "experiments" and method == "PUT":
            return self._create_experiment(req, store.data["projects"][pid], subject, tail[1])
        if len(tail) == 2 and tail[0] == "projects":
            return self._share(req, subject, "subject", tail[1])
        raise SandboxError(404, f"Unsupported request {method} {req.path}")

    def _relabel(self, req: Request, record: Record, pid: str, kind: str) -> None:
        new_label = req.query.get("label")
        if not new_label or new_label == record["label"]:
            return
        check_label(new_label, kind)
        finder = self.store.find_subject if kind == "subject" else self.store.find_experiment
        if finder(pid, new_label) is not None:
            raise SandboxError(409, f"A {kind} with label {new_label} already exists in {pid}")
        if pid != record["project"]:
            record["shares"][pid] = new_label
        else:
            record["label"] = new_label

    def _share_children(self, record: Record) -> list[dict]:
        items = [{"children": [], "meta": _meta("xnat:projectShare"),
                  "data_fields": {"project": pid, "label": label}}
                 for pid, label in record["shares"].items()]
        return [{"field": "sharing/share", "items": items}] if items else []

    def _share(self, req: Request, record: Record, kind: str, project_key: str) -> Response:
        store = self.store
        target = store.data["projects"].get(project_key)
        if target is None:
            raise SandboxError(404, f"Unable to find project {project_key}")
        if req.method == "DELETE":
            self._require(store.can_write(target, req.user)
                          or store.can_delete(self._project_of(record), req.user), req,
                          f"unshare from {project_key}")
            store.unshare(record, target)
            return text("")
        if req.method != "PUT":
            raise SandboxError(405, f"Unsupported request {req.method} {req.path}")
        self._require(store.can_write(target, req.user), req,
                      f"create {kind}s in project {project_key}")
        label = req.query.get("label")
        if req.flag("primary"):
            self._require(store.can_delete(self._project_of(record), req.user), req,
                          f"move {record['ID']} to {project_key}")
            if target["ID"] == record["project"]:
                raise SandboxError(409, f"Already assigned to project {project_key}")
            label = check_label(label or record["label"], kind)
            finder = store.find_subject if kind == "subject" else store.find_experiment
            if finder(target["ID"], label) not in (None, record):
                raise SandboxError(409, f"A {kind} with label {label} already exists in "
                                        f"{project_key}")
            record["shares"].pop(target["ID"], None)
            record["label"], record["project"] = label, target["ID"]
            store.touch()
        else:
            store.share(record, kind, target, label)
        return text(record["ID"])

    # ------------------------------------------------------------------ experiments
    def _create_experiment(self, req: Request, project: Record, subject: Record,
                           label: str) -> Response:
        store = self.store
        self._require(store.can_write(project, req.user), req,
                      f"create experiments in {project['ID']}")
        xsi_type = req.query.get("xsiType", "xnat:mrSessionData")
        if xsi_type not in SESSION_XSI_TYPES:
            raise SandboxError(400, f"Unsupported experiment type {xsi_type}")
        experiment = store.create_experiment(project, subject, label, xsi_type, req.user,
                                             _fields_from_query(req.query))
        return text(experiment["ID"])

    def _experiment_data(self, experiment: Record) -> dict[str, str]:
        return {**experiment["fields"], "ID": experiment["ID"], "label": experiment["label"],
                "project": experiment["project"], "subject_ID": experiment["subject_ID"],
                "insert_date": experiment["insert_date"], "insert_user": experiment["insert_user"]}

    def _experiment(self, req: Request, t: Target, tail: list[str]) -> Response:
        store, experiment, method = self.store, t.experiment, req.method
        pid = self._context_pid(t)
        home = self._project_of(experiment)
        if not tail:
            if method == "GET":
                scans = [{"children": [], "meta": _meta(s["xsiType"]),
                          "data_fields": self._scan_data(experiment, s)}
                         for s in experiment["scans"].values()]
                children = self._share_children(experiment)
                if scans:
                    children.append({"field": "scans/scan", "items": scans})
                return _items(experiment["xsiType"], self._experiment_data(experiment), children,
                              experiment["insert_date"])
            if method == "PUT":
                self._require(store.can_write(home, req.user), req,
                              f"edit experiment {experiment['ID']}")
                self._relabel(req, experiment, pid, "experiment")
                _update_fields(experiment, _fields_from_query(req.query))
                store.touch()
                return text(experiment["ID"])
            if method == "DELETE":
                if pid != experiment["project"]:
                    self._require(store.can_delete(store.data["projects"][pid], req.user), req,
                                  f"remove experiment {experiment['ID']} from {pid}")
                    store.unshare(experiment, store.data["projects"][pid])
                else:
                    self._require(store.can_delete(home, req.user), req,
                                  f"delete experiment {experiment['ID']}")
                    store.delete_experiment(experiment)
                return text("")
        if tail == ["scans"] and method == "GET":
            rows = [self._scan_row(experiment, s) for s in experiment["scans"].values()]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "scans" and method == "PUT":
            self._require(store.can_write(home, req.user), req, f"create scans in {home['ID']}")
            xsi_type = req.query.get("xsiType", "xnat:mrScanData")
            if xsi_type not in SCAN_XSI_TYPES:
                raise SandboxError(400, f"Unsupported scan type {xsi_type}")
            store.put_scan(experiment, tail[1], xsi_type, _fields_from_query(req.query))
            return text(tail[1])
        if len(tail) == 2 and tail[0] == "projects":
            return self._share(req, experiment, "experiment", tail[1])
        raise SandboxError(404, f"Unsupported request {method} {req.path}")

    # ------------------------------------------------------------------ scans
    def _scan_data(self, experiment: Record, scan: Record) -> dict[str, str]:
        return {**scan["fields"], "ID": scan["ID"], "image_session_ID": experiment["ID"],
                "project": experiment["project"]}

    def _scan(self, req: Request, t: Target) -> Response:
        store, experiment, scan = self.store, t.experiment, t.scan
        home = self._project_of(experiment)
        if req.method == "GET":
            return _items(scan["xsiType"], self._scan_data(experiment, scan),
                          insert_date=scan["insert_date"])
        if req.method == "PUT":
            self._require(store.can_write(home, req.user), req, f"edit scan {scan['ID']}")
            _update_fields(scan, _fields_from_query(req.query))
            store.touch()
            return text(scan["ID"])
        if req.method == "DELETE":
            self._require(store.can_delete(home, req.user), req, f"delete scan {scan['ID']}")
            store.delete_scan(experiment, scan["ID"])
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    # ------------------------------------------------------------------ resources
    def _resources(self, req: Request, t: Target, rest: list[str]) -> Response:
        store = self.store
        if t.scans is not None:
            raise SandboxError(400, "Resources of several scans cannot be listed together")
        if not rest and req.method == "GET":
            rows = [self._resource_row(r) for r in store.resources_of(self._owner(t))]
            return result_set(rows, req.format)
        if len(rest) == 1 and req.method == "PUT":
            self._require(store.can_write(self._home_project(t), req.user), req, "create resources")
            resource = store.create_resource(self._owner(t), rest[0], req.query.get("format", ""),
                                             req.query.get("content", ""),
                                             req.query.get("tags", ""))
            return text(resource["ID"])
        raise SandboxError(404, f"Unable to find resource {'/'.join(rest)}")

    def _resource_row(self, resource: Record) -> dict[str, str]:
        files = resource["files"].values()
        return {"xnat_abstractresource_id": resource["ID"], "label": resource["label"],
                "element_name": "xnat:resourceCatalog", "category": resource["owner"][0],
                "cat_id": resource["ID"], "cat_desc": "", "format": resource["format"],
                "content": resource["content"], "tags": resource["tags"],
                "file_count": str(len(files)), "file_size": str(sum(f["size"] for f in files))}

    def _resource(self, req: Request, t: Target) -> Response:
        store, resource = self.store, t.resource
        if req.method == "GET":
            return _items("xnat:resourceCatalog", self._resource_row(resource),
                          insert_date=resource["insert_date"])
        self._require(store.can_write(self._home_project(t), req.user), req,
                      f"change resource {resource['label']}")
        if req.method == "PUT":
            for key in ("format", "content", "tags"):
                if key in req.query:
                    resource[key] = req.query[key]
            store.touch()
            return text(resource["ID"])
        if req.method == "DELETE":
            store.delete_resource(resource)
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    # ------------------------------------------------------------------ files
    def _resource_uri(self, resource: Record) -> str:
        owner = resource["owner"]
        prefix = {"project": "/data/projects/{}", "subject": "/data/subjects/{}",
                  "experiment": "/data/experiments/{}",
                  "scan": "/data/experiments/{}/scans/{}"}[owner[0]].format(*owner[1:])
        return f"{prefix}/resources/{resource['ID']}"

    def _file_rows(self, resources: list[Record]) -> list[dict[str, str]]:
        rows = []
        for resource in resources:
            base = self._resource_uri(resource)
            for path, info in sorted(resource["files"].items()):
                rows.append({"Name": path.rsplit("/", 1)[-1], "Size": str(info["size"]),
                             "URI": f"{base}/files/{quote(path)}", "collection": resource["label"],
                             "cat_ID": resource["ID"], "digest": info["md5"],
                             "file_format": resource["format"], "file_content": resource["content"],
                             "file_tags": resource["tags"]})
        return rows

    def _zip_prefix(self, resource: Record) -> str:
        owner = resource["owner"]
        store = self.store
        if owner[0] == "scan":
            experiment = store.data["experiments"][owner[1]]
            scan = experiment["scans"][owner[2]]
            scan_dir = sanitize_label(f"{scan['ID']}-{scan['fields'].get('type', '')}".rstrip("-"))
            return f"{experiment['label']}/scans/{scan_dir}/resources/{resource['label']}/files/"
        if owner[0] == "experiment":
            label = store.data["experiments"][owner[1]]["label"]
        elif owner[0] == "subject":
            label = store.data["subjects"][owner[1]]["label"]
        else:
            label = owner[1]
        return f"{label}/resources/{resource['label']}/files/"

    def _files(self, req: Request, t: Target, path: str) -> Response:
        store = self.store
        if t.resource is not None:
            resources = [t.resource]
        elif t.scans is not None:
            resources = [r for s in t.scans
                         for r in store.resources_of(("scan", t.experiment["ID"], s["ID"]))]
        else:
            resources = store.resources_of(self._owner(t))
        if not path:
            if req.method != "GET":
                raise SandboxError(405, f"Unsupported request {req.method} {req.path}")
            if req.format == "zip":
                members = [(self._zip_prefix(r) + p, store.file_path(r, p))
                           for r in resources for p in sorted(r["files"])]
                name = t.experiment["label"] if t.experiment else "download"
                return _zip(members, name)
            return result_set(self._file_rows(resources), req.format)
        if t.resource is None:
            matches = [r for r in resources if path in r["files"]]
            if not matches:
                raise SandboxError(404, f"File not found: {path}")
            t.resource = matches[0]
        resource = t.resource
        if req.method in ("GET", "HEAD"):
            if path not in resource["files"]:
                raise SandboxError(404, f"File not found: {path}")
            content_type = mimetypes.guess_type(path)[0] or OCTET
            return Response(content_type=content_type, file=store.file_path(resource, path))
        self._require(store.can_write(self._home_project(t), req.user), req,
                      f"change files of {resource['label']}")
        if req.method == "DELETE":
            store.delete_file(resource, path)
            return text("")
        if req.method in ("PUT", "POST"):
            return self._upload_file(req, resource, path)
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    def _upload_file(self, req: Request, resource: Record, path: str) -> Response:
        store = self.store
        store.file_path(resource, path)
        extract = req.flag("extract") and path.lower().endswith(_ARCHIVES)
        if not extract and path in resource["files"] and not req.flag("overwrite"):
            raise SandboxError(409, f"File {path} already exists; use overwrite=true to replace it")
        for key in ("format", "content", "tags"):
            if req.query.get(key) not in (None, "", "U"):
                resource[key] = req.query[key]
        upload = req.upload
        if upload is None:
            upload = store.tmp_dir / secrets.token_hex(8)
            upload.touch()
        if not extract:
            store.add_file(resource, path, upload)
            return text("")
        unpacked = store.tmp_dir / secrets.token_hex(8)
        try:
            folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
            for name, source in self._unpack(upload, unpacked):
                if folder + name in resource["files"] and not req.flag("overwrite"):
                    raise SandboxError(409, f"File {folder}{name} already exists")
                store.add_file(resource, folder + name, source)
            return text("")
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)

    @staticmethod
    def _unpack(archive: Path, folder: Path) -> list[tuple[str, Path]]:
        """Unpack a zip or tar(.gz) safely; return (relative name, path) of each file."""
        folder.mkdir()
        root = folder.resolve()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                names = [i.filename for i in handle.infolist() if not i.is_dir()]
                for name in names:
                    if root not in (root / name).resolve().parents:
                        raise SandboxError(400, f"Unsafe path in archive: {name}")
                handle.extractall(folder, names)
        else:
            try:
                with tarfile.open(archive) as handle:
                    members = [m for m in handle.getmembers() if m.isfile()]
                    handle.extractall(folder, members, filter="data")
                    names = [m.name for m in members]
            except (tarfile.TarError, OSError) as error:
                raise SandboxError(400, f"Unable to extract the archive: {error}") from error
        return [(name, folder / name) for name in names]

    # ------------------------------------------------------------------ listing rows
    def _project_row(self, project: Record) -> dict[str, str]:
        return {"ID": project["ID"], "secondary_ID": project["secondary_ID"],
                "name": project["name"], "description": project["description"],
                "pi_firstname": "", "pi_lastname": "", "alias": "", "xsiType": "xnat:projectData",
                "URI": f"/data/projects/{project['ID']}"}

    def _subject_row(self, subject: Record, pid: str) -> dict[str, str]:
        return {"ID": subject["ID"], "label": self.store.subject_label(subject, pid),
                "project": subject["project"], "insert_date": subject["insert_date"],
                "insert_user": subject["insert_user"], "xsiType": "xnat:subjectData",
                "URI": f"/data/subjects/{subject['ID']}"}

    def _experiment_row(self, experiment: Record, pid: str) -> dict[str, str]:
        fields = experiment["fields"]
        return {"ID": experiment["ID"], "label": self.store.experiment_label(experiment, pid),
                "project": experiment["project"], "xsiType": experiment["xsiType"],
                "xnat:subjectassessordata/id": experiment["subject_ID"],
                "subject_ID": experiment["subject_ID"], "date": fields.get("date", ""),
                "insert_date": experiment["insert_date"],
                "URI": f"/data/experiments/{experiment['ID']}"}

    def _scan_row(self, experiment: Record, scan: Record) -> dict[str, str]:
        fields = scan["fields"]
        return {"ID": scan["ID"], "type": fields.get("type", ""),
                "series_description": fields.get("series_description", ""),
                "xsiType": scan["xsiType"], "quality": fields.get("quality", ""),
                "note": fields.get("note", ""), "frames": fields.get("frames", ""),
                "URI": f"/data/experiments/{experiment['ID']}/scans/{scan['ID']}"}

    # ================================================================== xapi
    def _xapi(self, req: Request, segs: list[str]) -> Response:
        store, user = self.store, req.user
        if segs == ["schemas"]:
            return json_response(sorted(SCHEMAS))
        if len(segs) == 2 and segs[0] == "schemas":
            name = segs[1].removesuffix(".xsd")
            if name not in SCHEMAS:
                raise SandboxError(404, f"No schema named {name}")
            return Response(200, SCHEMAS[name].encode("utf-8"), XML)
        if segs == ["access", "projects"]:
            rows = [{"ID": p["ID"], "name": p["name"], "role": store.role(p, user)}
                    for p in store.data["projects"].values() if store.role(p, user)]
            return json_response(rows)
        if segs == ["users"] and req.method == "GET":
            return json_response(sorted(store.data["users"]))
        if segs == ["users"] and req.method == "POST":
            self._require(store.is_admin(user), req, "create users")
            try:
                data = json.loads(req.body.read_all(1 << 16) or b"{}")
            except ValueError as error:
                raise SandboxError(400, f"Invalid JSON: {error}") from error
            login, password = data.get("username"), data.get("password")
            if not login or not password:
                raise SandboxError(400, "username and password are required")
            if store.user_exists(login):
                raise SandboxError(409, f"User {login} already exists")
            store.add_user(login, password, bool(data.get("admin")))
            store.save()
            return Response(201, json.dumps({"username": login}).encode(), JSON)
        raise SandboxError(404, f"Not found: {req.path}")

    # ================================================================== services
    def _service(self, req: Request, segs: list[str]) -> Response:
        if segs == ["import"]:
            return self._import(req)
        if segs == ["archive"]:
            return self._archive_service(req)
        if len(segs) == 2 and segs[0] == "prearchive" and segs[1] in ("delete", "move", "rebuild"):
            return self._prearchive_service(req, segs[1])
        raise SandboxError(404, f"Not found: {req.path}")

    def _import_target(self, req: Request) -> tuple[str, str | None, str | None, str | None]:
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

    def _import(self, req: Request) -> Response:
        store, query = self.store, req.query
        overwrite = check_overwrite(query.get("overwrite", "none"))
        handler = query.get("import-handler", "DICOM-zip")
        if handler not in ("DICOM-zip", "SI"):
            raise SandboxError(400, f"Unsupported import handler: {handler}")
        kind, project_key, subject_key, session_key = self._import_target(req)
        with store.lock:
            project = store.find_project(project_key) if project_key else None
        if project is not None:
            self._require(store.can_write(project, req.user), req,
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

    def _archive_service(self, req: Request) -> Response:
        store, query = self.store, req.query
        overwrite = check_overwrite(query.get("overwrite", "none"))
        with store.lock:
            entry = store.prearchive_entry(*_parse_src(query.get("src", "")))
            self._require_prearchive(req, entry)
            project_key = query.get("project") or entry["project"]
            project = store.find_project(project_key) if project_key != UNASSIGNED else None
            if project is None:
                raise SandboxError(400, "unable to identify destination project")
            self._require(store.can_write(project, req.user), req,
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

    def _require_prearchive(self, req: Request, entry: Record) -> None:
        store = self.store
        project = store.find_project(entry["project"]) if entry["project"] != UNASSIGNED else None
        allowed = (store.can_write(project, req.user) if project is not None
                   else store.is_admin(req.user) or entry["uploader"] == req.user)
        self._require(allowed, req, f"manage prearchive session {entry['name']}")

    def _prearchive_service(self, req: Request, action: str) -> Response:
        store = self.store
        with store.lock:
            entry = store.prearchive_entry(*_parse_src(req.query.get("src", "")))
            self._require_prearchive(req, entry)
            if action == "delete":
                store.remove_prearchive(entry)
            elif action == "rebuild":
                if entry["project"] != UNASSIGNED and entry["status"] != "ERROR":
                    entry["status"] = archive_status(store, entry["project"], entry["name"])
                    store.touch()
            else:
                project = store.project(req.query.get("newProject", ""))
                self._require(store.can_write(project, req.user), req,
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

    # ================================================================== prearchive browsing
    def _prearchive(self, req: Request, segs: list[str]) -> Response:
        store = self.store
        if not segs or segs[0] != "projects":
            raise SandboxError(404, f"Not found: {req.path}")
        with store.lock:
            if len(segs) <= 2:
                entries = store.prearchive_entries(segs[1] if len(segs) == 2 else None)
                rows = []
                for entry in entries:
                    try:
                        self._require_prearchive(req, entry)
                    except SandboxError:
                        continue
                    rows.append(prearchive_row(entry))
                return result_set(rows, req.format)
            entry = store.prearchive_entry(*segs[1:4])
            self._require_prearchive(req, entry)
            if len(segs) == 4 and req.method == "DELETE":
                store.remove_prearchive(entry)
                store.save()
                return text("")
            return self._prearchive_content(req, entry, segs[4:])

    def _prearchive_content(self, req: Request, entry: Record, rest: list[str]) -> Response:
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
            return _zip(members, entry["name"])
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

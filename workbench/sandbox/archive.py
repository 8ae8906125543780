"""Archive objects: projects, subjects, experiments and scans, with sharing and project users.

A request under ``/data/projects``, ``/data/subjects`` or ``/data/experiments`` is resolved
to store records (:mod:`.paths`) and answered by the handler of the deepest object;
resources and files below it are handled by :mod:`.resources`.
"""

from __future__ import annotations

import secrets

from .auth import project_of, require
from .paths import Target, resolve
from .protocol import Request, Response, item_meta, items, result_set, text
from .resources import Resources
from .schemas import OTHER_SCAN_TYPE, OTHER_SESSION_TYPE, SCAN_TYPES, SESSION_TYPES
from .store import GROUPS, ROLES, Record, SandboxError, Store, check_label

SESSION_XSI_TYPES = {*SESSION_TYPES.values(), OTHER_SESSION_TYPE}
SCAN_XSI_TYPES = {*SCAN_TYPES.values(), OTHER_SCAN_TYPE}
#: Query parameters that are options, not object fields.
_OPTIONS = {
    "xsiType", "req_format", "format", "label", "ID", "id", "event_reason", "event_type",
    "event_action", "event_comment", "activate", "quarantine", "removeFiles", "allowDataDeletion",
    "inbody", "overwrite", "extract", "content", "tags", "primary", "columns", "accessibility",
    "subject_ID",
}

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


def _project_row(project: Record) -> dict[str, str]:
    return {"ID": project["ID"], "secondary_ID": project["secondary_ID"],
            "name": project["name"], "description": project["description"],
            "pi_firstname": "", "pi_lastname": "", "alias": "", "xsiType": "xnat:projectData",
            "URI": f"/data/projects/{project['ID']}"}


def _user_row(login: str, project: Record | None = None) -> dict[str, str]:
    row = {"login": login, "firstname": "", "lastname": "", "email": "",
           "xdat_user_id": login, "enabled": "true"}
    if project is not None:
        role = project["roles"][login]
        row.update({"displayname": GROUPS[role], "GROUP_ID": f"{project['ID']}_{role}"})
    return row


def _scan_data(experiment: Record, scan: Record) -> dict[str, str]:
    return {**scan["fields"], "ID": scan["ID"], "image_session_ID": experiment["ID"],
            "project": experiment["project"]}


def _scan_row(experiment: Record, scan: Record) -> dict[str, str]:
    fields = scan["fields"]
    return {"ID": scan["ID"], "type": fields.get("type", ""),
            "series_description": fields.get("series_description", ""),
            "xsiType": scan["xsiType"], "quality": fields.get("quality", ""),
            "note": fields.get("note", ""), "frames": fields.get("frames", ""),
            "URI": f"/data/experiments/{experiment['ID']}/scans/{scan['ID']}"}


def _share_children(record: Record) -> list[dict]:
    shares = [{"children": [], "meta": item_meta("xnat:projectShare"),
               "data_fields": {"project": pid, "label": label}}
              for pid, label in record["shares"].items()]
    return [{"field": "sharing/share", "items": shares}] if shares else []


class Archive:
    """Handlers of the archive object tree; one instance serves all threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.resources = Resources(store)

    def handle(self, req: Request) -> Response:
        """Answer a request under ``/data/{projects|subjects|experiments}`` (under the lock)."""
        if req.method in ("PUT", "POST") and req.body.present:
            req.upload = self.store.tmp_dir / secrets.token_hex(8)
            req.body.save(req.upload)
        try:
            with self.store.lock:
                response = self._dispatch(req, resolve(self.store, req))
                self.store.save()
                return response
        finally:
            if req.upload is not None:
                req.upload.unlink(missing_ok=True)

    def site_users(self, req: Request) -> Response:
        """``/data/users``: all users."""
        return result_set([_user_row(login) for login in sorted(self.store.data["users"])],
                          req.format)

    def _dispatch(self, req: Request, t: Target) -> Response:
        level, tail, method = t.level, t.tail, req.method
        if level == "root":
            return self._root(req, tail)
        if tail == ["files"] or (len(tail) > 1 and tail[0] == "files"):
            return self.resources.files(req, t, "/".join(tail[1:]))
        if tail and tail[0] == "resources" and level != "resource":
            return self.resources.listing(req, t, tail[1:])
        if level == "project":
            return self._project(req, t, tail)
        if level == "subject":
            return self._subject(req, t, tail)
        if level == "experiment":
            return self._experiment(req, t, tail)
        if level == "scan" and not tail:
            return self._scan(req, t)
        if level == "resource" and not tail:
            return self.resources.resource(req, t)
        raise SandboxError(404 if method in ("GET", "HEAD") else 405,
                           f"Unsupported request {method} {req.path}")

    def _root(self, req: Request, tail: list[str]) -> Response:
        store, user = self.store, req.user
        if tail == ["projects"] and req.method == "GET":
            rows = [_project_row(p) for p in store.data["projects"].values()
                    if store.can_see(p, user)]
            return result_set(rows, req.format)
        if tail == ["subjects"] and req.method == "GET":
            rows = [self._subject_row(s, s["project"]) for s in store.data["subjects"].values()
                    if store.can_read(project_of(store, s), user)]
            return result_set(rows, req.format)
        if tail == ["experiments"] and req.method == "GET":
            rows = [self._experiment_row(e, e["project"])
                    for e in store.data["experiments"].values()
                    if store.can_read(project_of(store, e), user)]
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
                return items("xnat:projectData", data, insert_date=project["insert_date"])
            if method == "PUT":
                require(store.role(project, req.user) == "owner", req, f"edit project {pid}")
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
                require(store.can_delete(project, req.user), req, f"delete project {pid}")
                store.delete_project(project)
                return text("")
        if tail == ["subjects"] and method == "GET":
            return result_set([self._subject_row(s, pid) for s in store.project_subjects(pid)],
                              req.format)
        if len(tail) == 2 and tail[0] == "subjects" and method == "PUT":
            require(store.can_write(project, req.user), req, f"create subjects in {pid}")
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
            require(self.store.role(project, req.user) == "owner", req,
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

    def _project_users(self, req: Request, project: Record, rest: list[str]) -> Response:
        if not rest and req.method == "GET":
            rows = [_user_row(login, project) for login in sorted(project["roles"])]
            return result_set(rows, req.format)
        if len(rest) == 2 and req.method in ("PUT", "DELETE"):
            require(self.store.role(project, req.user) == "owner", req,
                    f"manage users of {project['ID']}")
            group = rest[0].lower().rstrip("s")
            if req.method == "PUT" and group not in ROLES:
                raise SandboxError(
                    400, f"Unknown group {rest[0]}; use Owners, Members or Collaborators")
            self.store.set_role(project["ID"], rest[1], group if req.method == "PUT" else None)
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    # ------------------------------------------------------------------ subjects, experiments
    def _edit(self, req: Request, record: Record, kind: str, pid: str) -> Response:
        """PUT on a subject or experiment: relabel it in ``pid`` and set fields."""
        store = self.store
        require(store.can_write(project_of(store, record), req.user), req,
                f"edit {kind} {record['ID']}")
        self._relabel(req, record, pid, kind)
        _update_fields(record, _fields_from_query(req.query))
        store.touch()
        return text(record["ID"])

    def _remove(self, req: Request, record: Record, kind: str, pid: str) -> Response:
        """DELETE on a subject or experiment: unshare it from ``pid`` or delete it at home."""
        store = self.store
        if pid != record["project"]:
            require(store.can_delete(store.data["projects"][pid], req.user), req,
                    f"remove {kind} {record['ID']} from {pid}")
            store.unshare(record, store.data["projects"][pid])
        else:
            require(store.can_delete(project_of(store, record), req.user), req,
                    f"delete {kind} {record['ID']}")
            (store.delete_subject if kind == "subject" else store.delete_experiment)(record)
        return text("")

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

    def _subject(self, req: Request, t: Target, tail: list[str]) -> Response:
        store, subject, method = self.store, t.subject, req.method
        pid = t.context_pid(store)
        if not tail:
            if method == "GET":
                data = {**subject["fields"], "ID": subject["ID"], "label": subject["label"],
                        "project": subject["project"], "insert_date": subject["insert_date"],
                        "insert_user": subject["insert_user"]}
                return items("xnat:subjectData", data, _share_children(subject),
                             subject["insert_date"])
            if method == "PUT":
                return self._edit(req, subject, "subject", pid)
            if method == "DELETE":
                return self._remove(req, subject, "subject", pid)
        if tail == ["experiments"] and method == "GET":
            rows = [self._experiment_row(e, pid) for e in store.project_experiments(pid, subject)]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "experiments" and method == "PUT":
            return self._create_experiment(req, store.data["projects"][pid], subject, tail[1])
        if len(tail) == 2 and tail[0] == "projects":
            return self._share(req, subject, "subject", tail[1])
        raise SandboxError(404, f"Unsupported request {method} {req.path}")

    # ------------------------------------------------------------------ sharing
    def _share(self, req: Request, record: Record, kind: str, project_key: str) -> Response:
        store = self.store
        target = store.data["projects"].get(project_key)
        if target is None:
            raise SandboxError(404, f"Unable to find project {project_key}")
        if req.method == "DELETE":
            require(store.can_write(target, req.user)
                    or store.can_delete(project_of(store, record), req.user), req,
                    f"unshare from {project_key}")
            store.unshare(record, target)
            return text("")
        if req.method != "PUT":
            raise SandboxError(405, f"Unsupported request {req.method} {req.path}")
        require(store.can_write(target, req.user), req,
                f"create {kind}s in project {project_key}")
        label = req.query.get("label")
        if req.flag("primary"):
            require(store.can_delete(project_of(store, record), req.user), req,
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
        require(store.can_write(project, req.user), req,
                f"create experiments in {project['ID']}")
        xsi_type = req.query.get("xsiType", "xnat:mrSessionData")
        if xsi_type not in SESSION_XSI_TYPES:
            raise SandboxError(400, f"Unsupported experiment type {xsi_type}")
        experiment = store.create_experiment(project, subject, label, xsi_type, req.user,
                                             _fields_from_query(req.query))
        return text(experiment["ID"])

    def _experiment(self, req: Request, t: Target, tail: list[str]) -> Response:
        store, experiment, method = self.store, t.experiment, req.method
        pid = t.context_pid(store)
        home = project_of(store, experiment)
        if not tail:
            if method == "GET":
                scans = [{"children": [], "meta": item_meta(s["xsiType"]),
                          "data_fields": _scan_data(experiment, s)}
                         for s in experiment["scans"].values()]
                children = _share_children(experiment)
                if scans:
                    children.append({"field": "scans/scan", "items": scans})
                data = {**experiment["fields"], "ID": experiment["ID"],
                        "label": experiment["label"], "project": experiment["project"],
                        "subject_ID": experiment["subject_ID"],
                        "insert_date": experiment["insert_date"],
                        "insert_user": experiment["insert_user"]}
                return items(experiment["xsiType"], data, children, experiment["insert_date"])
            if method == "PUT":
                return self._edit(req, experiment, "experiment", pid)
            if method == "DELETE":
                return self._remove(req, experiment, "experiment", pid)
        if tail == ["scans"] and method == "GET":
            rows = [_scan_row(experiment, s) for s in experiment["scans"].values()]
            return result_set(rows, req.format)
        if len(tail) == 2 and tail[0] == "scans" and method == "PUT":
            require(store.can_write(home, req.user), req, f"create scans in {home['ID']}")
            xsi_type = req.query.get("xsiType", "xnat:mrScanData")
            if xsi_type not in SCAN_XSI_TYPES:
                raise SandboxError(400, f"Unsupported scan type {xsi_type}")
            store.put_scan(experiment, tail[1], xsi_type, _fields_from_query(req.query))
            return text(tail[1])
        if len(tail) == 2 and tail[0] == "projects":
            return self._share(req, experiment, "experiment", tail[1])
        raise SandboxError(404, f"Unsupported request {method} {req.path}")

    # ------------------------------------------------------------------ scans
    def _scan(self, req: Request, t: Target) -> Response:
        store, experiment, scan = self.store, t.experiment, t.scan
        home = project_of(store, experiment)
        if req.method == "GET":
            return items(scan["xsiType"], _scan_data(experiment, scan),
                         insert_date=scan["insert_date"])
        if req.method == "PUT":
            require(store.can_write(home, req.user), req, f"edit scan {scan['ID']}")
            _update_fields(scan, _fields_from_query(req.query))
            store.touch()
            return text(scan["ID"])
        if req.method == "DELETE":
            require(store.can_delete(home, req.user), req, f"delete scan {scan['ID']}")
            store.delete_scan(experiment, scan["ID"])
            return text("")
        raise SandboxError(405, f"Unsupported request {req.method} {req.path}")

    # ------------------------------------------------------------------ listing rows
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

"""Persistent state of the sandbox XNAT: a JSON index plus files on disk.

Layout of the data folder::

    index.json                         users, roles, projects, subjects, experiments,
                                       scans, resources, file records, prearchive entries
    archive/<resource id>/<path>       files of archived resources
    prearchive/<project>/<timestamp>/<session>/SCANS/<scan>/DICOM/<file>
    tmp/                               request bodies and staging areas

All methods must be called with :attr:`Store.lock` held when they are part of a
read-modify-write sequence; the lock is re-entrant. Mutating methods mark the
index dirty; :meth:`Store.save` writes it atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

ROLES = ("owner", "member", "collaborator")
#: XNAT group names for the roles, as used in ``/data/projects/{P}/users/{group}/{login}``.
GROUPS = {"owner": "Owners", "member": "Members", "collaborator": "Collaborators"}
ACCESSIBILITY = ("private", "protected", "public")
UNASSIGNED = "Unassigned"
LABEL_RE = re.compile(r"^[\w-]+$")

Owner = tuple[str, ...]
Record = dict[str, Any]


class SandboxError(Exception):
    """An error that becomes an HTTP response with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sanitize_label(value: str) -> str:
    """Replace every character outside ``[A-Za-z0-9_-]`` by ``_`` (XNAT ``Labels.toLabelChars``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", value.strip())


def check_label(value: str, kind: str) -> str:
    """Return ``value`` if it is a valid XNAT label, else raise a 400 error."""
    if not LABEL_RE.match(value or ""):
        raise SandboxError(400, f"Invalid character in {kind} label: {value!r}")
    return value


def timestamp() -> str:
    """Current time as XNAT writes it in listings (``YYYY-MM-DD HH:MM:SS.mmm``)."""
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def md5_file(path: Path) -> str:
    """MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 20_000).hex()


class Store:
    """Index and file storage of one sandbox data folder.

    Parameters
    ----------
    root
        Data folder; created if missing. An existing ``index.json`` is loaded.
    site_id
        Prefix of generated accession numbers (``<site_id>_S00001``, ``<site_id>_E00001``).
    """

    def __init__(self, root: Path, site_id: str = "SANDBOX") -> None:
        self.root = Path(root)
        self.site_id = site_id
        self.lock = threading.RLock()
        self.archive_dir = self.root / "archive"
        self.prearchive_dir = self.root / "prearchive"
        self.tmp_dir = self.root / "tmp"
        for folder in (self.archive_dir, self.prearchive_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir()
        self.index_path = self.root / "index.json"
        self._dirty = False
        self._verified: set[str] = set()
        if self.index_path.exists():
            self.data: Record = json.loads(self.index_path.read_text(encoding="utf-8"))
        else:
            self.data = {"counters": {"subject": 0, "experiment": 0, "resource": 0},
                         "users": {}, "projects": {}, "subjects": {}, "experiments": {},
                         "resources": {}, "prearchive": {}}
            self._dirty = True
            self.save()

    # ------------------------------------------------------------------ persistence
    def save(self) -> None:
        """Write the index atomically if it changed."""
        with self.lock:
            if not self._dirty:
                return
            tmp = self.index_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.index_path)
            self._dirty = False

    def touch(self) -> None:
        """Mark the index as modified."""
        self._dirty = True

    def _next_id(self, kind: str) -> str:
        self.data["counters"][kind] += 1
        number = self.data["counters"][kind]
        self.touch()
        if kind == "resource":
            return str(number)
        return f"{self.site_id}_{kind[0].upper()}{number:05d}"

    # ------------------------------------------------------------------ users and roles
    def add_user(self, login: str, password: str, admin: bool = False) -> None:
        """Create a user or reset the password and admin flag of an existing one."""
        if not re.match(r"^[\w.@-]+$", login):
            raise SandboxError(400, f"Invalid user name: {login!r}")
        with self.lock:
            salt = secrets.token_hex(8)
            self.data["users"][login] = {"salt": salt, "hash": _hash_password(password, salt),
                                         "admin": admin}
            self._verified = {key for key in self._verified if not key.startswith(login + "\0")}
            self.touch()

    def verify(self, login: str, password: str) -> bool:
        """Check a user's password."""
        key = f"{login}\0{hashlib.sha256(password.encode()).hexdigest()}"
        with self.lock:
            if key in self._verified:
                return True
            user = self.data["users"].get(login)
            if user is None or not secrets.compare_digest(
                    user["hash"], _hash_password(password, user["salt"])):
                return False
            self._verified.add(key)
            return True

    def is_admin(self, login: str) -> bool:
        """Whether ``login`` is a site administrator."""
        return bool(self.data["users"].get(login, {}).get("admin"))

    def user_exists(self, login: str) -> bool:
        """Whether the user exists."""
        return login in self.data["users"]

    def set_role(self, project_id: str, login: str, role: str | None) -> None:
        """Give ``login`` a role (owner, member, collaborator) in a project, or remove it (None)."""
        with self.lock:
            project = self.project(project_id)
            if not self.user_exists(login):
                raise SandboxError(404, f"Unknown user: {login}")
            if role is None:
                project["roles"].pop(login, None)
            elif role in ROLES:
                project["roles"][login] = role
            else:
                raise SandboxError(400, f"Unknown role {role!r}; use one of {', '.join(ROLES)}")
            self.touch()

    def role(self, project: Record, login: str) -> str | None:
        """Role of ``login`` in ``project``; site admins count as owners."""
        if self.is_admin(login):
            return "owner"
        return project["roles"].get(login)

    def can_see(self, project: Record, login: str) -> bool:
        """Whether the project shows up in the user's project listing."""
        return project["accessibility"] != "private" or self.role(project, login) is not None

    def can_read(self, project: Record, login: str) -> bool:
        """Whether the user may read the project's data."""
        return project["accessibility"] == "public" or self.role(project, login) is not None

    def can_write(self, project: Record, login: str) -> bool:
        """Whether the user may create or edit data in the project (owners and members)."""
        return self.role(project, login) in ("owner", "member")

    def can_delete(self, project: Record, login: str) -> bool:
        """Whether the user may delete data from the project (owners)."""
        return self.role(project, login) == "owner"

    # ------------------------------------------------------------------ projects
    def find_project(self, key: str) -> Record | None:
        """Project by ID or by secondary ID (alias)."""
        projects = self.data["projects"]
        if key in projects:
            return projects[key]
        return next((p for p in projects.values() if p["secondary_ID"] == key), None)

    def project(self, key: str) -> Record:
        """Project by ID or alias, or a 404 error."""
        project = self.find_project(key)
        if project is None:
            raise SandboxError(404, f"Unable to find project {key}")
        return project

    def create_project(self, project_id: str, owner: str, fields: dict[str, str] | None = None,
                       accessibility: str = "private") -> Record:
        """Create a project owned by ``owner``."""
        check_label(project_id, "project")
        if accessibility not in ACCESSIBILITY:
            raise SandboxError(400, f"Invalid accessibility {accessibility!r}")
        with self.lock:
            if self.find_project(project_id) is not None:
                raise SandboxError(409, f"Project {project_id} already exists")
            fields = dict(fields or {})
            project = {"ID": project_id, "name": fields.pop("name", project_id),
                       "secondary_ID": fields.pop("secondary_ID", project_id),
                       "description": fields.pop("description", ""), "fields": fields,
                       "accessibility": accessibility, "prearchive_code": 4,
                       "insert_date": timestamp(), "insert_user": owner, "roles": {}}
            project["roles"][owner] = "owner"
            self.data["projects"][project_id] = project
            self.touch()
            return project

    def delete_project(self, project: Record) -> None:
        """Delete a project with all data it owns and every share into it."""
        with self.lock:
            pid = project["ID"]
            for subject in [s for s in self.data["subjects"].values() if s["project"] == pid]:
                self.delete_subject(subject)
            for record in (*self.data["subjects"].values(), *self.data["experiments"].values()):
                record["shares"].pop(pid, None)
            for resource in self.resources_of(("project", pid)):
                self.delete_resource(resource)
            del self.data["projects"][pid]
            self.touch()

    # ------------------------------------------------------------------ subjects
    def subject_label(self, subject: Record, project_id: str) -> str:
        """Label of a subject as seen from ``project_id`` (its share label if shared)."""
        if subject["project"] == project_id:
            return subject["label"]
        return subject["shares"].get(project_id, subject["label"])

    def project_subjects(self, project_id: str) -> list[Record]:
        """Subjects owned by or shared into a project."""
        return [s for s in self.data["subjects"].values()
                if s["project"] == project_id or project_id in s["shares"]]

    def find_subject(self, project_id: str | None, key: str) -> Record | None:
        """Subject by ID, or in project context by ID or project-specific label."""
        subjects = self.data["subjects"]
        if project_id is None:
            return subjects.get(key)
        candidates = self.project_subjects(project_id)
        found = next((s for s in candidates if s["ID"] == key), None)
        return found or next((s for s in candidates if self.subject_label(s, project_id) == key),
                             None)

    def create_subject(self, project: Record, label: str, login: str,
                       fields: dict[str, str] | None = None) -> Record:
        """Create a subject in ``project``."""
        check_label(label, "subject")
        with self.lock:
            if self.find_subject(project["ID"], label) is not None:
                raise SandboxError(409, f"Subject {label} already exists in {project['ID']}")
            subject = {"ID": self._next_id("subject"), "project": project["ID"], "label": label,
                       "insert_date": timestamp(), "insert_user": login,
                       "fields": dict(fields or {}), "shares": {}}
            self.data["subjects"][subject["ID"]] = subject
            self.touch()
            return subject

    def delete_subject(self, subject: Record) -> None:
        """Delete a subject with its experiments and resources."""
        with self.lock:
            for experiment in self.subject_experiments(subject):
                self.delete_experiment(experiment)
            for resource in self.resources_of(("subject", subject["ID"])):
                self.delete_resource(resource)
            del self.data["subjects"][subject["ID"]]
            self.touch()

    # ------------------------------------------------------------------ experiments
    def experiment_label(self, experiment: Record, project_id: str) -> str:
        """Label of an experiment as seen from ``project_id``."""
        if experiment["project"] == project_id:
            return experiment["label"]
        return experiment["shares"].get(project_id, experiment["label"])

    def subject_experiments(self, subject: Record) -> list[Record]:
        """All experiments of a subject, whatever their project."""
        return [e for e in self.data["experiments"].values() if e["subject_ID"] == subject["ID"]]

    def project_experiments(self, project_id: str, subject: Record | None = None) -> list[Record]:
        """Experiments visible in a project: owned, or shared with their subject visible there."""
        visible = {s["ID"] for s in self.project_subjects(project_id)}
        return [e for e in self.data["experiments"].values()
                if (e["project"] == project_id
                    or (project_id in e["shares"] and e["subject_ID"] in visible))
                and (subject is None or e["subject_ID"] == subject["ID"])]

    def find_experiment(self, project_id: str | None, key: str,
                        subject: Record | None = None) -> Record | None:
        """Experiment by ID, or in project context by ID or project-specific label."""
        if project_id is None:
            experiment = self.data["experiments"].get(key)
            if experiment is not None and subject is not None \
                    and experiment["subject_ID"] != subject["ID"]:
                return None
            return experiment
        candidates = self.project_experiments(project_id, subject)
        found = next((e for e in candidates if e["ID"] == key), None)
        return found or next(
            (e for e in candidates if self.experiment_label(e, project_id) == key), None)

    def create_experiment(self, project: Record, subject: Record, label: str, xsi_type: str,
                          login: str, fields: dict[str, str] | None = None) -> Record:
        """Create an image session for ``subject`` in ``project``."""
        check_label(label, "experiment")
        with self.lock:
            if self.find_experiment(project["ID"], label) is not None:
                raise SandboxError(409, f"Experiment {label} already exists in {project['ID']}")
            experiment = {"ID": self._next_id("experiment"), "project": project["ID"],
                          "subject_ID": subject["ID"], "label": label, "xsiType": xsi_type,
                          "insert_date": timestamp(), "insert_user": login,
                          "fields": dict(fields or {}), "shares": {}, "scans": {}}
            self.data["experiments"][experiment["ID"]] = experiment
            self.touch()
            return experiment

    def delete_experiment(self, experiment: Record) -> None:
        """Delete an experiment with its scans and resources."""
        with self.lock:
            for scan_id in list(experiment["scans"]):
                self.delete_scan(experiment, scan_id)
            for resource in self.resources_of(("experiment", experiment["ID"])):
                self.delete_resource(resource)
            del self.data["experiments"][experiment["ID"]]
            self.touch()

    # ------------------------------------------------------------------ sharing
    def share(self, record: Record, kind: str, project: Record, label: str | None) -> None:
        """Share a subject or experiment into ``project`` under ``label`` (default: own label)."""
        with self.lock:
            pid = project["ID"]
            if record["project"] == pid or pid in record["shares"]:
                raise SandboxError(409, f"Already assigned to project {pid}")
            label = check_label(label or record["label"], kind)
            finder = self.find_subject if kind == "subject" else self.find_experiment
            if finder(pid, label) is not None:
                raise SandboxError(409, f"A {kind} with label {label} already exists in {pid}")
            record["shares"][pid] = label
            self.touch()

    def unshare(self, record: Record, project: Record) -> None:
        """Remove a share of a subject or experiment from ``project``."""
        with self.lock:
            if project["ID"] not in record["shares"]:
                raise SandboxError(404, f"Not shared into project {project['ID']}")
            del record["shares"][project["ID"]]
            self.touch()

    # ------------------------------------------------------------------ scans
    def put_scan(self, experiment: Record, scan_id: str, xsi_type: str,
                 fields: dict[str, str]) -> Record:
        """Create a scan or update its fields."""
        check_label(scan_id, "scan")
        with self.lock:
            scan = experiment["scans"].setdefault(
                scan_id, {"ID": scan_id, "xsiType": xsi_type, "fields": {},
                          "insert_date": timestamp()})
            scan["fields"].update(fields)
            self.touch()
            return scan

    def delete_scan(self, experiment: Record, scan_id: str) -> None:
        """Delete a scan and its resources."""
        with self.lock:
            for resource in self.resources_of(("scan", experiment["ID"], scan_id)):
                self.delete_resource(resource)
            del experiment["scans"][scan_id]
            self.touch()

    # ------------------------------------------------------------------ resources and files
    def resources_of(self, owner: Owner) -> list[Record]:
        """Resources attached to an owner such as ``("scan", experiment_id, scan_id)``."""
        return [r for r in self.data["resources"].values() if tuple(r["owner"]) == owner]

    def find_resource(self, owner: Owner, key: str) -> Record | None:
        """Resource of an owner by ID or label."""
        resources = self.resources_of(owner)
        return next((r for r in resources if r["ID"] == key), None) or next(
            (r for r in resources if r["label"] == key), None)

    def create_resource(self, owner: Owner, label: str, fmt: str = "", content: str = "",
                        tags: str = "") -> Record:
        """Create a resource catalog on an owner."""
        check_label(label, "resource")
        with self.lock:
            resource = {"ID": self._next_id("resource"), "owner": list(owner), "label": label,
                        "format": fmt, "content": content, "tags": tags, "files": {},
                        "insert_date": timestamp()}
            self.data["resources"][resource["ID"]] = resource
            (self.archive_dir / resource["ID"]).mkdir(parents=True, exist_ok=True)
            self.touch()
            return resource

    def delete_resource(self, resource: Record) -> None:
        """Delete a resource and its files."""
        with self.lock:
            shutil.rmtree(self.archive_dir / resource["ID"], ignore_errors=True)
            del self.data["resources"][resource["ID"]]
            self.touch()

    def file_path(self, resource: Record, path: str) -> Path:
        """Location on disk of a file of a resource; rejects paths leaving the resource."""
        base = (self.archive_dir / resource["ID"]).resolve()
        target = (base / path).resolve()
        if base not in target.parents:
            raise SandboxError(400, f"Invalid file path: {path}")
        return target

    def add_file(self, resource: Record, path: str, source: Path,
                 digest: str | None = None) -> Record:
        """Move ``source`` into a resource as ``path`` and record its size and MD5."""
        with self.lock:
            target = self.file_path(resource, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            record = {"size": target.stat().st_size, "md5": digest or md5_file(target)}
            resource["files"][path] = record
            self.touch()
            return record

    def delete_file(self, resource: Record, path: str) -> None:
        """Delete one file of a resource."""
        with self.lock:
            if path not in resource["files"]:
                raise SandboxError(404, f"File not found: {path}")
            self.file_path(resource, path).unlink(missing_ok=True)
            del resource["files"][path]
            self.touch()

    # ------------------------------------------------------------------ prearchive
    def prearchive_entries(self, project_id: str | None = None) -> list[Record]:
        """Prearchive entries, optionally of one project."""
        return [e for e in self.data["prearchive"].values()
                if project_id is None or e["project"] == project_id]

    def prearchive_entry(self, project_id: str, stamp: str, name: str) -> Record:
        """One prearchive entry, or a 404 error."""
        entry = self.data["prearchive"].get(f"{project_id}/{stamp}/{name}")
        if entry is None:
            raise SandboxError(404, f"Unable to find prearchive session {project_id}/{stamp}/"
                                    f"{name}")
        return entry

    def prearchive_path(self, entry: Record) -> Path:
        """Folder of a prearchive entry."""
        return self.prearchive_dir / entry["project"] / entry["timestamp"] / entry["name"]

    def new_prearchive_stamp(self, project_id: str, name: str) -> str:
        """A fresh ``YYYYMMDD_HHMMSSmmm`` timestamp unused for this project and session name."""
        now = time.time()
        while True:
            stamp = (time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
                     + f"{int(now % 1 * 1000):03d}")
            if f"{project_id}/{stamp}/{name}" not in self.data["prearchive"]:
                return stamp
            now += 0.001

    def add_prearchive(self, entry: Record) -> None:
        """Register a prearchive entry whose files are already in place."""
        with self.lock:
            key = f"{entry['project']}/{entry['timestamp']}/{entry['name']}"
            self.data["prearchive"][key] = entry
            self.touch()

    def remove_prearchive(self, entry: Record, delete_files: bool = True) -> None:
        """Drop a prearchive entry (and its folder)."""
        with self.lock:
            if delete_files:
                shutil.rmtree(self.prearchive_path(entry), ignore_errors=True)
            del self.data["prearchive"][f"{entry['project']}/{entry['timestamp']}/{entry['name']}"]
            self.touch()

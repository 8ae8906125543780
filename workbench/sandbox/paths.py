"""Resolution of archive paths (``/data/projects/P/subjects/S/...``) to store records.

In project context, subject and experiment path segments may be an accession ID or the
label the object has in that project (shared objects carry a per-project label).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .auth import project_of, require, require_read
from .protocol import Request
from .store import Owner, Record, SandboxError, Store


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

    @property
    def owner(self) -> Owner:
        """Owner key of resources at this level."""
        if self.scan is not None:
            return ("scan", self.experiment["ID"], self.scan["ID"])
        if self.experiment is not None:
            return ("experiment", self.experiment["ID"])
        if self.subject is not None:
            return ("subject", self.subject["ID"])
        return ("project", self.project["ID"])

    def home_project(self, store: Store) -> Record:
        """Project owning the deepest subject or experiment (else the path's project)."""
        record = self.experiment or self.subject
        return project_of(store, record) if record is not None else self.project

    def context_pid(self, store: Store) -> str:
        """ID of the project the path is in (the home project without one)."""
        return (self.project or self.home_project(store))["ID"]


def resolve(store: Store, req: Request) -> Target:
    """Walk the archive path of ``req``, checking read access; create a resource on upload."""
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
                require(store.can_read(found, req.user), req, f"access project {key}")
            attr = "project"
        elif kind == "subjects" and level in ("root", "project"):
            found = store.find_subject(target.project and target.project["ID"], key)
            if found is not None and target.project is None:
                require_read(store, req, found)
            attr = "subject"
        elif kind == "experiments" and level in ("root", "project", "subject"):
            pid = target.project["ID"] if target.project else (
                target.subject["project"] if target.subject else None)
            found = store.find_experiment(pid, key, target.subject)
            if found is not None and target.project is None and target.subject is None:
                require_read(store, req, found)
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
            owner = target.owner
            found = store.find_resource(owner, key)
            if (found is None and req.method in ("PUT", "POST") and index + 2 < len(segs)
                    and segs[index + 2] == "files"):
                require(store.can_write(target.home_project(store), req.user), req,
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

"""Resources and files of archive objects: listings, downloads (also as zip) and uploads."""

from __future__ import annotations

import mimetypes
import secrets
import shutil
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import quote

from .auth import require
from .paths import Target
from .protocol import OCTET, Request, Response, items, result_set, text, zip_response
from .store import Record, SandboxError, Store, sanitize_label

_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")


def _resource_uri(resource: Record) -> str:
    owner = resource["owner"]
    prefix = {"project": "/data/projects/{}", "subject": "/data/subjects/{}",
              "experiment": "/data/experiments/{}",
              "scan": "/data/experiments/{}/scans/{}"}[owner[0]].format(*owner[1:])
    return f"{prefix}/resources/{resource['ID']}"


def _resource_row(resource: Record) -> dict[str, str]:
    files = resource["files"].values()
    return {"xnat_abstractresource_id": resource["ID"], "label": resource["label"],
            "element_name": "xnat:resourceCatalog", "category": resource["owner"][0],
            "cat_id": resource["ID"], "cat_desc": "", "format": resource["format"],
            "content": resource["content"], "tags": resource["tags"],
            "file_count": str(len(files)), "file_size": str(sum(f["size"] for f in files))}


def _file_rows(resources: list[Record]) -> list[dict[str, str]]:
    rows = []
    for resource in resources:
        base = _resource_uri(resource)
        for path, info in sorted(resource["files"].items()):
            rows.append({"Name": path.rsplit("/", 1)[-1], "Size": str(info["size"]),
                         "URI": f"{base}/files/{quote(path)}", "collection": resource["label"],
                         "cat_ID": resource["ID"], "digest": info["md5"],
                         "file_format": resource["format"], "file_content": resource["content"],
                         "file_tags": resource["tags"]})
    return rows


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


class Resources:
    """Handlers of ``.../resources`` and ``.../files`` below a resolved archive path."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def listing(self, req: Request, t: Target, rest: list[str]) -> Response:
        """``.../resources[/{label}]``: list resources, or create one with PUT."""
        store = self.store
        if t.scans is not None:
            raise SandboxError(400, "Resources of several scans cannot be listed together")
        if not rest and req.method == "GET":
            rows = [_resource_row(r) for r in store.resources_of(t.owner)]
            return result_set(rows, req.format)
        if len(rest) == 1 and req.method == "PUT":
            require(store.can_write(t.home_project(store), req.user), req, "create resources")
            resource = store.create_resource(t.owner, rest[0], req.query.get("format", ""),
                                             req.query.get("content", ""),
                                             req.query.get("tags", ""))
            return text(resource["ID"])
        raise SandboxError(404, f"Unable to find resource {'/'.join(rest)}")

    def resource(self, req: Request, t: Target) -> Response:
        """``.../resources/{label}``: one resource."""
        store, resource = self.store, t.resource
        if req.method == "GET":
            return items("xnat:resourceCatalog", _resource_row(resource),
                         insert_date=resource["insert_date"])
        require(store.can_write(t.home_project(store), req.user), req,
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

    def files(self, req: Request, t: Target, path: str) -> Response:
        """``.../files[/{path}]``: list, download, zip, upload or delete files."""
        store = self.store
        if t.resource is not None:
            resources = [t.resource]
        elif t.scans is not None:
            resources = [r for s in t.scans
                         for r in store.resources_of(("scan", t.experiment["ID"], s["ID"]))]
        else:
            resources = store.resources_of(t.owner)
        if not path:
            if req.method != "GET":
                raise SandboxError(405, f"Unsupported request {req.method} {req.path}")
            if req.format == "zip":
                members = [(self._zip_prefix(r) + p, store.file_path(r, p))
                           for r in resources for p in sorted(r["files"])]
                name = t.experiment["label"] if t.experiment else "download"
                return zip_response(members, name)
            return result_set(_file_rows(resources), req.format)
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
        require(store.can_write(t.home_project(store), req.user), req,
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
            for name, source in _unpack(upload, unpacked):
                if folder + name in resource["files"] and not req.flag("overwrite"):
                    raise SandboxError(409, f"File {folder}{name} already exists")
                store.add_file(resource, folder + name, source)
            return text("")
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)

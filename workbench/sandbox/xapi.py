"""``/xapi`` endpoints of the sandbox: build info, data-model schemas, project access, users."""

from __future__ import annotations

import json

from .auth import require
from .protocol import JSON, XML, Request, Response, json_response
from .schemas import SCHEMAS
from .store import SandboxError, Store

XNAT_VERSION = "1.8.10"
NOTICE = ("workbench sandbox XNAT: a stand-in for tests, demos and Binder, "
          "not a home for real data")


def build_info(req: Request) -> Response:
    """``/xapi/siteConfig/buildInfo``: XNAT version (answered without login)."""
    return json_response({"version": XNAT_VERSION, "buildNumber": "sandbox",
                          "commit": "", "sandbox": NOTICE})


def schema_names(req: Request) -> Response:
    """``/xapi/schemas``."""
    return json_response(sorted(SCHEMAS))


def schema(req: Request, name: str) -> Response:
    """``/xapi/schemas/{name}``: one schema document."""
    name = name.removesuffix(".xsd")
    if name not in SCHEMAS:
        raise SandboxError(404, f"No schema named {name}")
    return Response(200, SCHEMAS[name].encode("utf-8"), XML)


class Xapi:
    """Handlers of the ``/xapi`` endpoints that read or change the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def access_projects(self, req: Request) -> Response:
        """``/xapi/access/projects``: projects the user has a role in."""
        store = self.store
        rows = [{"ID": p["ID"], "name": p["name"], "role": store.role(p, req.user)}
                for p in store.data["projects"].values() if store.role(p, req.user)]
        return json_response(rows)

    def users(self, req: Request) -> Response:
        """``GET /xapi/users``: all logins."""
        return json_response(sorted(self.store.data["users"]))

    def create_user(self, req: Request) -> Response:
        """``POST /xapi/users``: create a user (site admins only)."""
        store = self.store
        require(store.is_admin(req.user), req, "create users")
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

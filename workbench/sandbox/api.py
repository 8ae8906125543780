"""XNAT REST endpoints of the sandbox, as xnatpy 0.8 and pyxnat 1.6 use them: the route table.

Paths under ``/data/archive/`` and ``/REST/`` are the same as under ``/data/`` (the server
normalizes them). Each route is (methods, path pattern, handler, public); the first route whose
methods and pattern match answers. Patterns are matched against the path segments joined
by ``/``: ``{name}`` is one segment passed to the handler as a keyword, ``{name:a|b}`` one of
the listed values, and a final ``**`` allows any further segments. Public routes answer
without login; every other request, matched or not, must authenticate first (401), and an
unmatched one is then answered 404 ``Not found: <path>``.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from .archive import Archive
from .auth import Auth
from .faults import Faults
from .protocol import HTML, Request, Response, result_set
from .services import Services
from .store import SandboxError, Store
from .xapi import NOTICE, XNAT_VERSION, Xapi, build_info, schema, schema_names

__all__ = ["NOTICE", "XNAT_VERSION", "Api"]

ANY = None
GET = ("GET",)
POST = ("POST",)
DELETE = ("DELETE",)


def _compile(pattern: str) -> re.Pattern[str]:
    """Regex for a route pattern (syntax in the module docstring)."""
    regex = ""
    for seg in pattern.split("/") if pattern else []:
        if seg == "**":
            regex += "(?:/.*)?"
            continue
        placeholder = re.fullmatch(r"\{(\w+)(?::([\w|]+))?\}", seg)
        piece = (f"(?P<{placeholder[1]}>{placeholder[2] or '[^/]+'})" if placeholder
                 else re.escape(seg))
        regex += ("/" if regex else "") + piece
    return re.compile(regex)


class Route(NamedTuple):
    """One entry of the route table."""

    methods: tuple[str, ...] | None  # None: any method
    pattern: str
    handler: Callable[..., Response]
    public: bool = False


class Api:
    """Request router; one instance serves all threads of a sandbox server.

    Parameters
    ----------
    store
        Persistent state.
    faults
        Fault switches; only ``site_anonymization`` is read (by the import service).
    """

    def __init__(self, store: Store, faults: Faults) -> None:
        auth = Auth(store)
        archive = Archive(store)
        services = Services(store, faults)
        xapi = Xapi(store)
        routes = [
            Route(ANY, "", _home, public=True),
            Route(("PUT", "POST"), "data/services/auth", auth.login, public=True),
            Route(ANY, "data/version", _no_version, public=True),
            Route(ANY, "xapi/siteConfig/buildInfo/**", build_info, public=True),
            Route(DELETE, "data/JSESSION", auth.end_session),
            Route(ANY, "data/JSESSION", auth.session_token),
            Route(ANY, "data/auth", auth.whoami),
            Route(ANY, "xapi/schemas", schema_names),
            Route(ANY, "xapi/schemas/{name}", schema),
            Route(ANY, "xapi/access/projects", xapi.access_projects),
            Route(GET, "xapi/users", xapi.users),
            Route(POST, "xapi/users", xapi.create_user),
            Route(ANY, "data/search/elements/**", _no_search_elements),
            Route(POST, "data/services/import", services.import_upload),
            Route(POST, "data/services/archive", services.archive),
            Route(POST, "data/services/prearchive/{action:delete|move|rebuild}", services.manage),
            Route(ANY, "data/prearchive/projects", services.listing),
            Route(ANY, "data/prearchive/projects/{project}", services.listing),
            Route(DELETE, "data/prearchive/projects/{project}/{stamp}/{name}", services.delete),
            Route(ANY, "data/prearchive/projects/{project}/{stamp}/{name}/**", services.content),
            Route(ANY, "data/users", archive.site_users),
            Route(ANY, "data/projects/**", archive.handle),
            Route(ANY, "data/subjects/**", archive.handle),
            Route(ANY, "data/experiments/**", archive.handle),
        ]
        self._auth = auth
        self._routes = [(route, _compile(route.pattern)) for route in routes]

    def handle(self, req: Request) -> Response:
        """Answer one request (the body may still be unread)."""
        route, args = self._match(req)
        if route is not None and route.public:
            return route.handler(req, **args)
        self._auth.authenticate(req)
        if route is None:
            raise SandboxError(404, f"Not found: {req.path}")
        response = route.handler(req, **args)
        if req.token and req.cookies.get("JSESSIONID") != req.token:
            response.headers.append(("Set-Cookie", f"JSESSIONID={req.token}; Path=/; HttpOnly"))
        return response

    def _match(self, req: Request) -> tuple[Route | None, dict[str, str]]:
        """First route matching the method and path, and its path arguments."""
        path = "/".join(req.segments)
        for route, regex in self._routes:
            if route.methods is not ANY and req.method not in route.methods:
                continue
            match = regex.fullmatch(path)
            if match is not None:
                return route, match.groupdict()
        return None, {}


def _home(req: Request) -> Response:
    page = (f"<html><head><title>Sandbox XNAT</title></head><body><h1>Sandbox XNAT</h1>"
            f"<p>{NOTICE}.</p><p>REST API under <code>/data</code> and <code>/xapi</code>."
            f"</p></body></html>")
    return Response(200, page.encode(), HTML)


def _no_version(req: Request) -> Response:
    raise SandboxError(404, "Not found")


def _no_search_elements(req: Request) -> Response:
    return result_set([], req.format)

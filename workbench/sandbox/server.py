"""Threaded HTTP server running the sandbox XNAT, its Python control API and command line.

The sandbox is a stand-in for XNAT for tests, demos and Binder. It is not a home for
real data: there is no TLS, passwords sit in a local JSON file and nothing is audited.

Examples
--------
Command line::

    python -m workbench.sandbox --data ./sandbox-data --port 8080 --user alice:secret

From Python (tests)::

    with SandboxServer(data_dir, users={"alice": "secret"}) as server:
        server.create_project("P1", owner="alice")
        server.set_role("P1", "bob", "collaborator")
        server.faults.fail_request(nth=2, status=502)
        ...
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import socket
import sys
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from .api import NOTICE, XNAT_VERSION, Api
from .faults import Faults
from .protocol import Body, ConnectionCut, Request, Response, text
from .store import SandboxError, Store

logger = logging.getLogger(__name__)

BANNER = f"*** {NOTICE}. ***"
HEADER = "X-Sandbox-Notice"
DEFAULT_ADMIN = ("admin", "admin")


def normalize_path(raw: str) -> str:
    """Decode a request path and map ``/REST/`` and ``/data/archive/`` onto ``/data/``."""
    path = "/" + unquote(raw).strip("/")
    for prefix in ("/REST", "/data/archive"):
        if path == prefix or path.startswith(prefix + "/"):
            path = "/data" + path[len(prefix):]
    return path


class _ChunkedWriter:
    """File-like object writing an HTTP chunked body in pieces of about 64 KiB."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= 1 << 16:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._stream.write(b"%x\r\n%s\r\n" % (len(self._buffer), bytes(self._buffer)))
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
        self._stream.write(b"0\r\n\r\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small responses after a body would otherwise wait ~40 ms
    server_version = f"SandboxXNAT/{XNAT_VERSION}"
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET  # noqa: N815

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path = normalize_path(split.path)
        method = self.command
        has_body = "chunked" in self.headers.get("Transfer-Encoding", "").lower() or int(
            self.headers.get("Content-Length") or 0) > 0
        cut = sandbox.faults.take_cut(method, path) if has_body else None
        body = Body(self.rfile, self.headers, cut)
        cookies: dict[str, str] = {}
        try:
            cookies = {k: v.value for k, v in SimpleCookie(self.headers.get("Cookie", "")).items()}
        except CookieError:
            pass
        request = Request(method, path, dict(parse_qsl(split.query, keep_blank_values=True)),
                          self.headers, body, cookies)
        try:
            failure = sandbox.faults.take_failure(method, path)
            if failure is not None:
                response = text(f"{failure} injected failure (sandbox fault switch)", failure)
            else:
                response = sandbox.api.handle(request)
        except ConnectionCut:
            self._cut(method, path)
            return
        except SandboxError as error:
            response = text(error.message, error.status)
            if error.status == 401:
                response.headers.append(("WWW-Authenticate", 'Basic realm="XNAT"'))
        except Exception:
            logger.exception("Sandbox failed on %s %s", method, self.path)
            response = text("Internal server error (see sandbox log)", 500)
        try:
            body.drain()
        except ConnectionCut:
            self._cut(method, path)
            return
        sandbox.record(method, path, response.status)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _cut(self, method: str, path: str) -> None:
        """Drop the connection without answering (body cut by a fault rule or client gone)."""
        self.server.sandbox.record(method, path, 0)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header(HEADER, NOTICE)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        head_only = self.command == "HEAD"
        if response.writer is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if not head_only:
                writer = _ChunkedWriter(self.wfile)
                response.writer(writer)
                writer.close()
            return
        if response.file is not None:
            size = response.file.stat().st_size
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if not head_only:
                with open(response.file, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        self.wfile.write(chunk)
            return
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(response.body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def close_connections(self) -> None:
        """Shut down every open (keep-alive) client connection."""
        with self.connections_lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class SandboxServer:
    """A sandbox XNAT serving one data folder.

    Parameters
    ----------
    data_dir
        Folder holding ``index.json`` and the files; created if missing, reused if present.
    host, port
        Address to listen on; port 0 picks a free port.
    users
        Users to create or update, ``{login: password}``.
    admins
        Site administrators to create or update, ``{login: password}``. When the data folder
        has no users at all and none are given, ``admin``/``admin`` is created.

    Attributes
    ----------
    faults
        Fault-injection switches (:class:`~workbench.sandbox.faults.Faults`).
    store
        Persistent state (:class:`~workbench.sandbox.store.Store`).
    requests
        The last 1000 requests as ``(method, path, status)``; status 0 means the
        connection was cut.
    """

    def __init__(self, data_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0,
                 users: dict[str, str] | None = None,
                 admins: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir)
        self.faults = Faults()
        self.api = Api(self.store, self.faults)
        self.requests: collections.deque[tuple[str, str, int]] = collections.deque(maxlen=1000)
        if not users and not admins and not self.store.data["users"]:
            admins = dict([DEFAULT_ADMIN])
        for login, password in (admins or {}).items():
            self.store.add_user(login, password, admin=True)
        for login, password in (users or {}).items():
            self.store.add_user(login, password)
        self.store.save()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, method: str, path: str, status: int) -> None:
        """Append a request to :attr:`requests`."""
        self.requests.append((method, path, status))

    # ------------------------------------------------------------------ control API
    def add_user(self, login: str, password: str, admin: bool = False) -> None:
        """Create a user (or reset its password and admin flag)."""
        with self.store.lock:
            self.store.add_user(login, password, admin)
            self.store.save()

    def set_role(self, project: str, login: str, role: str | None) -> None:
        """Give a user the role ``owner``, ``member`` or ``collaborator`` (None removes it)."""
        with self.store.lock:
            self.store.set_role(project, login, role)
            self.store.save()

    def create_project(self, project: str, owner: str, name: str | None = None,
                       accessibility: str = "private") -> None:
        """Create a project owned by ``owner``."""
        with self.store.lock:
            self.store.create_project(project, owner, {"name": name or project}, accessibility)
            self.store.save()

    def set_prearchive_code(self, project: str, code: int) -> None:
        """Set what imports without ``dest`` do: 0 prearchive, 4 archive, 5 archive + overwrite."""
        if code not in (0, 4, 5):
            raise ValueError("prearchive code must be 0, 4 or 5")
        with self.store.lock:
            self.store.project(project)["prearchive_code"] = code
            self.store.touch()
            self.store.save()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sandbox-xnat",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` or KeyboardInterrupt."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving, drop open connections, close the socket and save the index."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()
        self.store.save()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _credentials(value: str) -> tuple[str, str]:
    login, sep, password = value.partition(":")
    if not sep or not login or not password:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return login, password


def _role(value: str) -> tuple[str, str, str]:
    parts = value.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("expected PROJECT:USER:ROLE")
    return parts[0], parts[1], parts[2]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox XNAT from the command line (``python -m workbench.sandbox``)."""
    parser = argparse.ArgumentParser(
        prog="workbench sandbox",
        description=f"Run a sandbox XNAT ({NOTICE}). It answers the XNAT REST API that "
                    "xnatpy and pyxnat use, stores everything in --data and survives restarts.",
        epilog="Without any --user/--admin on an empty data folder, admin:admin is created.")
    parser.add_argument("--data", required=True, type=Path, help="data folder (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080, 0 = any free)")
    parser.add_argument("--user", action="append", type=_credentials, default=[],
                        metavar="NAME:PASSWORD", help="create or update a user (repeatable)")
    parser.add_argument("--admin", action="append", type=_credentials, default=[],
                        metavar="NAME:PASSWORD", help="create or update a site admin (repeatable)")
    parser.add_argument("--project", action="append", default=[], metavar="PROJECT[:OWNER]",
                        help="create a project if missing (owner: first admin or user)")
    parser.add_argument("--role", action="append", type=_role, default=[],
                        metavar="PROJECT:USER:ROLE", help="grant owner, member or collaborator")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    server = SandboxServer(args.data, args.host, args.port, users=dict(args.user),
                           admins=dict(args.admin))
    default_owner = next(iter([*args.admin, *args.user]), DEFAULT_ADMIN)[0]
    try:
        for spec in args.project:
            project, _, owner = spec.partition(":")
            if server.store.find_project(project) is None:
                server.create_project(project, owner or default_owner)
        for project, login, role in args.role:
            server.set_role(project, login, role)
    except SandboxError as error:
        parser.error(error.message)
    print(BANNER, file=sys.stderr)
    print(f"Sandbox XNAT at {server.url} (data in {server.data_dir.resolve()})", file=sys.stderr)
    if not args.user and not args.admin and set(server.store.data["users"]) == {DEFAULT_ADMIN[0]}:
        print("Default site admin: {}:{}".format(*DEFAULT_ADMIN), file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0

"""Login sessions (``JSESSIONID``, HTTP basic auth, ``/data/JSESSION``) and access checks."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from urllib.parse import parse_qs

from .protocol import Request, Response, html, text
from .store import UNASSIGNED, Record, SandboxError, Store

LOGIN_FAILED = "Login attempt failed. Please try again."
AUTH_REQUIRED = "The request requires user authentication"
MAX_SESSIONS = 10_000


class Auth:
    """Session tokens of logged-in users; one instance serves all threads.

    Parameters
    ----------
    store
        Persistent state (users and passwords).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions: dict[str, str] = {}
        self._sessions_lock = threading.Lock()

    def _new_session(self, login: str) -> str:
        token = secrets.token_hex(16).upper()
        with self._sessions_lock:
            self._sessions[token] = login
            while len(self._sessions) > MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        return token

    def login(self, req: Request) -> Response:
        """``PUT|POST /data/services/auth``: check a form login and open a session."""
        form = parse_qs(req.body.read_all(1 << 16).decode("utf-8", "replace"))
        login = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        if not self.store.verify(login, password):
            return html("Status page", LOGIN_FAILED, 401)
        token = self._new_session(login)
        response = text(token)
        response.headers.append(("Set-Cookie", f"JSESSIONID={token}; Path=/; HttpOnly"))
        return response

    def authenticate(self, req: Request) -> None:
        """Set ``req.user`` and ``req.token`` from the session cookie or basic auth (else 401)."""
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

    def end_session(self, req: Request) -> Response:
        """``DELETE /data/JSESSION``."""
        self.logout(req.token)
        req.token = None
        return text("")

    def session_token(self, req: Request) -> Response:
        """``/data/JSESSION``: the current session token."""
        return text(req.token or "")

    def whoami(self, req: Request) -> Response:
        """``/data/auth``."""
        return text(f"User '{req.user}' is logged in")


# ---------------------------------------------------------------------- access checks
def require(allowed: bool, req: Request, action: str) -> None:
    """Raise XNAT's 403 unless ``allowed``."""
    if not allowed:
        raise SandboxError(403, f"User {req.user} has insufficient privileges to {action}.")


def project_of(store: Store, record: Record) -> Record:
    """Home project of a subject or experiment."""
    return store.data["projects"][record["project"]]


def require_read(store: Store, req: Request, record: Record) -> None:
    """Require read access to the home project or a project the record is shared into."""
    projects = [project_of(store, record)] + [
        store.data["projects"][pid] for pid in record.get("shares", {})
        if pid in store.data["projects"]]
    require(any(store.can_read(p, req.user) for p in projects), req,
            f"read {record.get('label', record['ID'])}")


def require_prearchive(store: Store, req: Request, entry: Record) -> None:
    """Require the right to manage a prearchive entry (project writer, admin or uploader)."""
    project = store.find_project(entry["project"]) if entry["project"] != UNASSIGNED else None
    allowed = (store.can_write(project, req.user) if project is not None
               else store.is_admin(req.user) or entry["uploader"] == req.user)
    require(allowed, req, f"manage prearchive session {entry['name']}")

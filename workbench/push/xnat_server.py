"""The XNAT side of a push: the login, the session that survives a restart, error reasons.

Credentials come from ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc`` (``NETRC``
overrides the file); they are never printed or stored.
"""

from __future__ import annotations

import io
import netrc
import os
import re
from contextlib import contextmanager
from typing import IO, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import requests
import xnat
from xnat.exceptions import XNATError, XNATLoginFailedError, XNATResponseError, XNATUploadError
from xnat.session import BaseXNATSession, XNATSession

from ..errors import PushError
from .destination import Retry, StudyFailed

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def public_url(url: str) -> str:
    """The URL without any ``user:password@`` part and trailing slash (safe to print)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def credentials(url: str, login: tuple[str, str] | None = None) -> tuple[str, str]:
    """Login and password for ``url``: ``login`` when given, else from
    ``XNAT_USER``/``XNAT_PASSWORD`` or the netrc file.

    Raises
    ------
    PushError
        When neither source has credentials for the host.
    """
    if login is not None:
        return login
    user, password = os.environ.get("XNAT_USER"), os.environ.get("XNAT_PASSWORD")
    if user and password:
        return user, password
    parts = urlsplit(url)
    hosts = [parts.netloc.rpartition("@")[2], parts.hostname or ""]
    try:
        entries = netrc.netrc(os.environ.get("NETRC") or None)
    except (OSError, netrc.NetrcParseError):
        entries = None
    for host in hosts:
        found = entries.authenticators(host) if entries else None
        if found and found[2] and (not user or found[0] == user):
            return found[0], found[2]
    raise PushError(f"no XNAT credentials for {hosts[0]}: set XNAT_USER and XNAT_PASSWORD, or add "
                    f"'machine {hosts[0]} login NAME password SECRET' to ~/.netrc.")


def _clean(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text or "")
    return re.sub(r"\s+", " ", text).strip()[:300]


def _status(exc: Exception) -> tuple[int | None, str]:
    if isinstance(exc, XNATResponseError):
        return exc.status_code, _clean(exc.text)
    match = re.search(r"Status code (\d+), response text (.*)", str(exc), re.DOTALL)
    return (int(match[1]), _clean(match[2])) if match else (None, _clean(str(exc)))


class Server:
    """An xnatpy session that can log in again after a server restart or expiry."""

    def __init__(self, url: str, timeout: tuple[float, float],
                 login: tuple[str, str] | None) -> None:
        self.url, self.login = url, login
        self.shown = public_url(url)
        self.timeout = timeout
        self.session = self._connect(during_push=False)

    def _connect(self, during_push: bool) -> XNATSession:
        user, password = credentials(self.url, self.login)
        try:
            return xnat.connect(self.url, user=user, password=password, loglevel="ERROR",
                                default_timeout=(self.timeout[0], 120.0))
        except XNATLoginFailedError:
            where = ("the login given" if self.login
                     else "XNAT_USER and XNAT_PASSWORD (or ~/.netrc)")
            raise PushError(f"XNAT at {self.shown} refused the login of {user!r}: check "
                            f"{where}.") from None
        except (requests.RequestException, XNATError) as exc:
            if during_push:
                raise Retry(f"cannot reach XNAT at {self.shown} ({type(exc).__name__})") from None
            raise PushError(f"cannot reach XNAT at {self.shown} ({type(exc).__name__}: "
                            f"{_clean(str(exc))[:150]}); check the URL and that the server is "
                            "up.") from None

    def relogin(self) -> None:
        """Drop the current session and log in again."""
        self.close()
        self.session = self._connect(during_push=True)

    def close(self) -> None:
        try:
            self.session.disconnect()
        except Exception:  # the server may be gone or restarted: stop the keep-alive anyway
            BaseXNATSession.disconnect(self.session)


class UploadReader:
    """Read-only file wrapper that reports the read position (upload progress)."""

    def __init__(self, handle: IO[bytes], size: int, report: Callable[[int], None]) -> None:
        self._handle = handle
        self._size = size
        self._report = report

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        data = self._handle.read(n)
        self._report(self._handle.tell())
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


@contextmanager
def translate(what: str, project: str) -> Iterator[None]:
    """Turn xnatpy and requests errors into :class:`Retry` or :class:`StudyFailed` with a reason."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise Retry(f"{what}: the connection failed ({type(exc).__name__})") from None
    except (XNATResponseError, XNATUploadError) as exc:
        status, text = _status(exc)
        if status == 401:
            raise Retry(f"{what}: the server no longer accepts the session (401, restarted "
                        "or expired)", reconnect=True) from None
        if status is None or status in _RETRY_STATUS:
            raise Retry(f"{what}: server error {status}: {text}") from None
        if status == 403:
            raise StudyFailed(f"{what}: permission denied ({text}); ask an owner of project "
                              f"{project} for the member or owner role (collaborators may only "
                              "read)") from None
        if status == 404:
            raise StudyFailed(f"{what}: not found on the server ({text})") from None
        raise StudyFailed(f"{what}: XNAT refused it (HTTP {status}: {text})") from None
    except XNATError as exc:
        raise StudyFailed(f"{what}: unexpected answer from XNAT ({type(exc).__name__}: "
                          f"{_clean(str(exc))})") from None

"""HTTP request and response objects shared by the sandbox server and its REST handlers."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any, Callable

TEXT = "text/plain;charset=UTF-8"
JSON = "application/json;charset=UTF-8"
CSV = "text/csv;charset=UTF-8"
HTML = "text/html;charset=UTF-8"
XML = "text/xml;charset=UTF-8"
ZIP = "application/zip"
OCTET = "application/octet-stream"


class ConnectionCut(Exception):
    """Raised when a fault rule drops the connection while the body is being read."""


class Body:
    """Request body reader for ``Content-Length`` and chunked bodies, read in bounded pieces.

    Parameters
    ----------
    stream
        The socket's read stream.
    headers
        Request headers.
    cut_after
        If not None, raise :class:`ConnectionCut` once this many bytes have been read.
    """

    def __init__(self, stream: IO[bytes], headers: Message, cut_after: int | None = None) -> None:
        self._stream = stream
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._remaining = 0 if self._chunked else int(headers.get("Content-Length") or 0)
        self._chunk_left = 0
        self._done = not self._chunked and self._remaining == 0
        self._cut_after = cut_after
        self.bytes_read = 0

    @property
    def present(self) -> bool:
        """Whether the request announced a body."""
        return self._chunked or self._remaining > 0 or self.bytes_read > 0

    def read(self, size: int = 1 << 20) -> bytes:
        """Read up to ``size`` bytes; ``b""`` at the end of the body."""
        if self._done:
            return b""
        if self._cut_after is not None and self.bytes_read >= self._cut_after:
            raise ConnectionCut()
        if self._cut_after is not None:
            size = min(size, self._cut_after - self.bytes_read)
        data = self._read_chunked(size) if self._chunked else self._read_plain(size)
        self.bytes_read += len(data)
        return data

    def _read_plain(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._remaining))
        if not data:
            raise ConnectionCut()
        self._remaining -= len(data)
        self._done = self._remaining == 0
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._stream.readline(1024)
            if not line:
                raise ConnectionCut()
            self._chunk_left = int(line.split(b";")[0].strip() or b"0", 16)
            if self._chunk_left == 0:
                while self._stream.readline(1024).strip():  # trailers
                    pass
                self._done = True
                return b""
        data = self._stream.read(min(size, self._chunk_left))
        if not data:
            raise ConnectionCut()
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._stream.readline(16)
        return data

    def read_all(self, limit: int = 1 << 20) -> bytes:
        """Read a small body completely (at most ``limit`` bytes are kept)."""
        parts = []
        kept = 0
        while chunk := self.read():
            if kept < limit:
                parts.append(chunk[: limit - kept])
                kept += len(parts[-1])
        return b"".join(parts)

    def save(self, path: Path) -> int:
        """Stream the body into a file; return its size."""
        with open(path, "wb") as out:
            while chunk := self.read():
                out.write(chunk)
        return self.bytes_read

    def drain(self) -> None:
        """Read and discard what is left so the connection can be reused."""
        while self.read():
            pass


@dataclass
class Request:
    """One parsed request as the REST handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: Body
    cookies: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    token: str | None = None
    upload: Path | None = None

    @property
    def segments(self) -> list[str]:
        """Path segments, e.g. ``["data", "projects", "P1"]``."""
        return [s for s in self.path.split("/") if s]

    @property
    def format(self) -> str:
        """Requested ``format`` parameter, lower case."""
        return self.query.get("format", "").lower()

    def flag(self, name: str) -> bool:
        """Whether a boolean query parameter is ``true``."""
        return self.query.get(name, "").lower() == "true"


@dataclass
class Response:
    """A response: a body in memory, a file to stream, or a writer producing a chunked body."""

    status: int = 200
    body: bytes = b""
    content_type: str = TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: Path | None = None
    writer: Callable[[IO[bytes]], None] | None = None


def text(value: str, status: int = 200) -> Response:
    """Plain text response."""
    return Response(status, value.encode("utf-8"), TEXT)


def json_response(value: Any, status: int = 200) -> Response:
    """JSON response."""
    return Response(status, json.dumps(value).encode("utf-8"), JSON)


def html(title: str, message: str, status: int) -> Response:
    """Small HTML status page in the shape XNAT's error pages have (message in ``<h3>``)."""
    page = (f"<html><head><title>{title}</title></head>"
            f"<body><h3>{message}</h3></body></html>")
    return Response(status, page.encode("utf-8"), HTML)


def item_meta(xsi_type: str, insert_date: str = "") -> dict:
    """``meta`` member of an object in XNAT's ``items`` JSON."""
    meta = {"xsi:type": xsi_type, "isHistory": False, "create_event_id": 1}
    if insert_date:
        meta["start_date"] = insert_date
    return meta


def items(xsi_type: str, data_fields: dict, children: list | None = None,
          insert_date: str = "") -> Response:
    """One object in XNAT's ``items`` JSON shape (``format=json`` on an object URI)."""
    item = {"children": children or [], "meta": item_meta(xsi_type, insert_date),
            "data_fields": data_fields}
    return json_response({"items": [item]})

def result_set(rows: list[dict[str, str]], fmt: str) -> Response:
    """Listing in XNAT's ``ResultSet`` JSON shape, or CSV when ``format=csv``."""
    if fmt == "csv":
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(200, out.getvalue().encode("utf-8"), CSV)
    return json_response({"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}})


def zip_response(members: list[tuple[str, Path]], name: str) -> Response:
    """Zip download streamed as a chunked body; ``members`` are (name in zip, file) pairs."""
    def write(out: IO[bytes]) -> None:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for member, path in members:
                archive.write(path, member)

    return Response(content_type=ZIP, writer=write,
                    headers=[("Content-Disposition", f'attachment; filename="{name}.zip"')])

"""Reading sources and writing outputs without decoding pixel data.

Pixel data is copied, not decoded: when the top-level PixelData element ends
the file (the usual case), only the header is parsed and the pixel element's
bytes are taken from the source as they are (:func:`source_pixels`). The whole
output file is checked by the verifier before :func:`write_output` writes it
to a temporary name and renames it, so no half-written file ever looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset

from ..dicomio import PIXEL_DATA_TAG, PIXEL_TAGS, parse_header
from ..errors import WorkbenchError

SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass
class Source:
    """A source file: its dataset, and where its raw pixel element lies if not in it."""

    path: str
    dataset: Dataset
    tail: tuple[int, int] | None = None  # (offset, length) of the PixelData element


def read_source(path: str) -> Source:
    """Read a source file; the pixel data stays on disk when it ends the file."""
    with open(path, "rb") as fp:
        ds = parse_header(fp, force=True)
        start, size = fp.tell(), os.fstat(fp.fileno()).st_size
        if start >= size:
            return Source(path, ds)
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if (ts is not None and ts.is_little_endian and not ts.is_deflated
                and _pixels_end_file(fp, start, size, ts.is_implicit_VR)):
            return Source(path, ds, (start, size - start))
    return Source(path, dcmread(path, force=True))


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (OSError when it cannot be read).

    ``hashlib.file_digest`` reads into one reused buffer, so hashing allocates
    nothing per block.
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _pixels_end_file(fp, start: int, size: int, implicit: bool) -> bool:
    fp.seek(start)
    if fp.read(4) != PIXEL_DATA_TAG:
        return False
    if not implicit:
        fp.read(4)  # VR and reserved bytes
    length = int.from_bytes(fp.read(4), "little")
    if length == 0xFFFFFFFF:  # encapsulated: must close with the sequence delimiter at the end
        fp.seek(size - 8)
        return fp.read(8) == SEQUENCE_DELIMITER
    return fp.tell() + length == size


def source_pixels(source: Source) -> tuple[bytes, bytes | None]:
    """The source's top-level pixel element as it follows the header (b"" when the dataset
    holds it), and its value as stored (None without one), which an output must carry."""
    if source.tail is None:
        tag = min((t for t in PIXEL_TAGS if t in source.dataset), default=None)
        value = source.dataset.get_item(tag).value if tag is not None else None
        return b"", value if isinstance(value, bytes) else None
    offset, length = source.tail
    with open(source.path, "rb") as src:
        src.seek(offset)
        element = src.read(length)
    if len(element) != length:
        raise OSError(f"{source.path} changed while it was being read")
    start = 8 if source.dataset.file_meta.TransferSyntaxUID.is_implicit_VR else 12
    undefined = element[start - 4:start] == b"\xff\xff\xff\xff"
    return element, element[start:len(element) - 8 if undefined else None]


def output_bytes_equal(path: str | os.PathLike, data: bytes) -> bool:
    """True when ``path`` already holds exactly ``data``."""
    if os.stat(path).st_size != len(data):
        return False
    with open(path, "rb") as out:
        return out.read() == data


def owner_only(path: str | os.PathLike, flags: int) -> int:
    """An ``open()`` opener for files only their owner may read (0600, also when the
    file existed): identifiable copies, reasons, linkage keys."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def write_output(path: str | os.PathLike, data: bytes, private: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a temporary name, then a rename).

    ``private`` files (identifiable copies in the quarantine) are readable by their
    owner only (0600). Paths are handled as strings: pathlib interns every part of
    every path it parses, which a worker writing thousands of files pays in time and memory.
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.partial")
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb", opener=owner_only if private else None) as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise WorkbenchError(
            f"cannot write {path}: {exc.strerror or exc}. Free disk space or fix the folder's "
            "permissions, then re-run with --resume; files already written are complete.") from exc

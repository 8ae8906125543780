"""The distinct values of a file's header, read lean: the scan behind the PHI scan.

A :class:`ValueReader` parses the header of an uncompressed-header Part 10 file
(explicit VR little endian data set, any pixel encoding) straight from its bytes, up
to the pixel data, and decodes only the values it has not met before: each value is
cached by its place (path, tag, private creator), VR, raw bytes and character set.
Every other file (implicit VR, big endian, deflated, no preamble, undefined-length
values, UN elements) is read as the tag diff reads it, by :func:`~.diff.flatten`. Both
give the same rows.
"""

from __future__ import annotations

import codecs
import os
import re
import struct

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.uid import UID

from ..dicomio import PLAIN_VRS
from .diff import flatten
from .dicom import (BINARY_VRS, PIXEL_KEYWORDS, _keyword, _read, element_name, normalise,
                    value_text)

#: Bytes read first: most headers end (at the pixel data) before.
HEAD_BYTES = 1 << 14
#: Explicit VRs with a 4-byte length.
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                       b"UT", b"SV", b"UV"})
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_META_END, _PIXELS, _NO_END = 0x00030000, min(_PIXEL_TAGS), 1 << 32
_UNDEFINED = 0xFFFFFFFF
_CHARSET = 0x00080005
_SYNTAX = 0x00020010
_HEAD = struct.Struct("<HH2sH").unpack_from
_ITEM = struct.Struct("<HHL").unpack_from
_LONG = struct.Struct("<L").unpack_from
#: Explicit VRs with a 2-byte length.
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS",
                        b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL",
                        b"US"})
_MISS = object()
#: A row of the scan: ``((name, value), keyword, VR)``.
Row = tuple
#: VRs whose single ASCII value pydicom decodes to its text less trailing spaces and NULs
#: (a leading space is kept by some, dropped by others: pydicom decodes those).
_PLAIN_VRS = frozenset(vr.encode() for vr in (*PLAIN_VRS, "DA", "DT", "TM", "AS"))
#: Decimal and integer strings: each value decodes to its text less spaces around it.
_NUMBER_VRS = frozenset({b"DS", b"IS"})
_DECIMAL = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(rb"[+-]?\d+")


class _Fallback(Exception):
    """The lean parser does not read this file; the full reader does."""


def _plain(vr: bytes, value: bytes) -> str | None:
    """The review text of a plain ASCII value as pydicom decodes it, or None when pydicom
    must decode it: a text, date or time of one value, or decimal and integer strings."""
    if not value.isascii() or b"\x1b" in value:
        return None
    if vr in _NUMBER_VRS:
        parts = [part.strip(b" \0") for part in value.split(b"\\")]
        pattern = _DECIMAL if vr == b"DS" else _INTEGER
        return b"\\".join(parts).decode() if all(map(pattern.fullmatch, parts)) else None
    if vr in _PLAIN_VRS and b"\\" not in value and value[:1] != b" ":
        return value.decode("ascii").rstrip(" \0")
    return None


def _ascii_codec(name: str) -> bool:
    """Whether a Python codec decodes printable ASCII bytes as ASCII."""
    return codecs.lookup(name).name.startswith(("iso8859", "latin", "utf-8", "ascii"))


class ValueReader:
    """Reads the ``((name, value), keyword, VR)`` rows of files, caching decoded values.

    ``indexed`` keeps sequence item indices in names. Rows are the elements the PHI
    scan counts: not sequences, pixel data, empty or binary values.
    """

    def __init__(self, indexed: bool = False):
        self.indexed = indexed
        self._values: dict[tuple, Row | None] = {}
        self._names: dict[tuple, tuple[str, str]] = {}
        self._encodings: dict[bytes, int] = {}
        self._syntaxes: dict[bytes, bool] = {}
        self._syntax = b""
        self._codecs: list = [default_encoding]  # by number; 0: the default
        self._ascii = [True]  # per encoding: decodes printable ASCII as ASCII

    def rows(self, path: str | os.PathLike) -> list[Row]:
        """The rows of one file; raises :class:`~workbench.errors.ReviewError` when unreadable."""
        try:
            return self._lean(path)
        except (_Fallback, struct.error, ValueError, OSError, TypeError):  # TypeError: a Dataset
            return self._full(path)

    def _full(self, path) -> list[Row]:
        rows = []
        for e in flatten(_read(path)).values():
            if e.vr == "SQ" or e.keyword in PIXEL_KEYWORDS or not e.value or \
                    (e.value.startswith("<") and e.value.endswith(" bytes>")):
                continue
            rows.append(((e.path if self.indexed else normalise(e.path), e.value), e.keyword,
                         e.vr))
        return rows

    def _lean(self, path) -> list[Row]:
        fd = os.open(path, os.O_RDONLY)  # unbuffered: one read for most headers
        try:
            data = os.read(fd, HEAD_BYTES)
            try:
                return self._parse(data, len(data) < HEAD_BYTES)
            except (_Fallback, struct.error):
                if len(data) < HEAD_BYTES:
                    raise
            while chunk := os.read(fd, 1 << 20):
                data += chunk
        finally:
            os.close(fd)
        return self._parse(data, True)

    def _parse(self, data: bytes, complete: bool) -> list[Row]:
        """The rows of a file's first bytes (``complete``: all of it)."""
        if data[128:134] != b"DICM\x02\x00":  # the file meta group first
            raise _Fallback
        rows: list[Row] = []
        self._syntax = b""
        pos = self._dataset(data, 132, len(data), "FileMeta.", 0, rows, _META_END, False)
        if not self._explicit_little(self._syntax):
            raise _Fallback
        pos = self._dataset(data, pos, len(data), "", 0, rows, _PIXELS, False)
        if pos >= len(data) and not complete:  # no pixel data in the bytes read
            raise _Fallback
        return rows

    def _explicit_little(self, syntax: bytes) -> bool:
        """Whether a transfer syntax's data set is explicit VR little endian, not deflated."""
        if syntax not in self._syntaxes:
            uid = UID(syntax.decode("ascii").rstrip("\0 "))
            self._syntaxes[syntax] = uid.is_transfer_syntax and not uid.is_implicit_VR and \
                uid.is_little_endian and not uid.is_deflated
        return self._syntaxes[syntax]

    def _dataset(self, data: bytes, pos: int, end: int, prefix: str, encoding: int,
                 rows: list, stop: int, delimited: bool) -> int:
        """Appends the rows of the data set at ``data[pos:end]``; returns where it ends.

        ``stop`` ends it before its first element from that tag on (:data:`_META_END`: the
        file meta group; :data:`_PIXELS`: the pixel data; :data:`_NO_END`: nothing);
        ``delimited`` ends it at an item delimiter. Elements before the Specific Character
        Set wait for it: it decodes every text of its data set.
        """
        values, creators, last, early = self._values, {}, -1, []
        while True:
            if pos >= end:
                if delimited or pos != end:
                    raise _Fallback
                break
            group, element, vr, length = _HEAD(data, pos)
            if group == 0xFFFE:
                if delimited and element == 0xE00D:
                    pos += 8
                    break
                raise _Fallback
            tag = group << 16 | element
            if tag >= stop and (stop == _META_END or tag in _PIXEL_TAGS):
                break
            if tag <= last:  # out of order, or twice: the full reader decides
                raise _Fallback
            last = tag
            if vr in _LONG_VRS:
                length, pos = _LONG(data, pos + 8)[0], pos + 12
            elif vr in _SHORT_VRS:
                pos += 8
            else:
                raise _Fallback
            if early and tag >= _CHARSET:
                self._early(early, prefix, encoding, rows)
            if vr == b"SQ":
                if tag < _CHARSET and length != _UNDEFINED:  # read with the data set's
                    raise _Fallback                          # character set by pydicom
                creator = creators.get((group, element >> 8)) if group & 1 else None
                name = prefix + self._name(tag, creator, encoding)
                pos = self._sequence(data, pos, length, name, encoding, rows)
                continue
            if length == _UNDEFINED or vr == b"UN" or pos + length > end:
                raise _Fallback
            value = data[pos:pos + length]
            pos += length
            if tag < _CHARSET:
                if group & 1:
                    raise _Fallback
                early.append((tag, vr, value))
                if tag == _SYNTAX:
                    self._syntax = value
                continue
            if group & 1:
                if 0x10 <= element <= 0xFF:
                    creators[(group, element)] = (vr, value)
                    creator = None
                else:
                    creator = creators.get((group, element >> 8)) if element >= 0x1000 else None
                key = (prefix, tag, vr, value, encoding, creator)
            else:
                key = (prefix, tag, vr, value, encoding)
                if tag == _CHARSET:
                    encoding = self._encoding(value)
            row = values.get(key, _MISS)
            if row is _MISS:
                row = self._decode(key)
            if row is not None:
                rows.append(row)
        if early:
            self._early(early, prefix, encoding, rows)
        return pos

    def _early(self, early: list, prefix: str, encoding: int, rows: list) -> None:
        """The rows of the elements before a data set's character set (file meta included)."""
        for tag, vr, value in early:
            key = (prefix, tag, vr, value, encoding)
            row = self._values.get(key, _MISS)
            if row is _MISS:
                row = self._decode(key)
            if row is not None:
                rows.append(row)
        early.clear()

    def _sequence(self, data: bytes, pos: int, length: int, name: str, encoding: int,
                  rows: list) -> int:
        """Appends the rows of a sequence's items; returns where the sequence ends."""
        end = len(data) if length == _UNDEFINED else pos + length
        n = 0
        while pos < end:
            group, element, size = _ITEM(data, pos)
            pos += 8
            if group != 0xFFFE:
                raise _Fallback
            if element == 0xE0DD and length == _UNDEFINED:
                return pos
            if element != 0xE000:
                raise _Fallback
            prefix = f"{name}[{n}]." if self.indexed else f"{name}."
            if size == _UNDEFINED:
                pos = self._dataset(data, pos, len(data), prefix, encoding, rows, _NO_END, True)
            else:
                pos = self._dataset(data, pos, pos + size, prefix, encoding, rows, _NO_END, False)
            n += 1
        if length == _UNDEFINED or pos != end:
            raise _Fallback
        return pos

    def _decode(self, key: tuple) -> Row | None:
        """The row of an element not met before (None when the scan leaves it out)."""
        prefix, tag, vr, value, encoding = key[:5]
        if prefix == "FileMeta.":
            leaf = keyword = _keyword(tag)
        else:
            leaf, keyword = self._name(tag, key[5] if len(key) > 5 else None, encoding,
                                       keyword=True)
        vr_text = vr.decode()
        if vr_text in BINARY_VRS and vr_text not in ("OB", "UN"):  # never text: left out
            self._values[key] = None
            return None
        text = _plain(vr, value) if self._ascii[encoding] else None
        if text is None:
            elem = convert_raw_data_element(
                RawDataElement(tag, vr_text, len(value), value, 0, False, True),
                encoding=default_encoding if tag == _CHARSET else self._codecs[encoding])
            text = f"<pixel data, {len(value)} bytes>" if keyword in PIXEL_KEYWORDS \
                else value_text(elem)
            vr_text = elem.VR
        row = None
        if keyword not in PIXEL_KEYWORDS and text and \
                not (text.startswith("<") and text.endswith(" bytes>")):
            row = ((prefix + leaf, text), keyword, vr_text)
        self._values[key] = row
        return row

    def _name(self, tag: int, creator: tuple[bytes, bytes] | None, encoding: int, *,
              keyword: bool = False):
        """An element's name (item indices normalised unless indexed); with ``keyword``,
        its name and keyword."""
        key = (tag, creator, encoding)
        if key not in self._names:
            texts = {}
            if creator is not None:
                block = (tag >> 16, (tag & 0xFFFF) >> 8)
                vr, value = creator
                elem = convert_raw_data_element(RawDataElement(
                    (block[0] << 16) | block[1], vr.decode(), len(value), value, 0, False, True),
                    encoding=self._codecs[encoding])
                texts[block] = str(elem.value or "")
            name, found, _ = element_name(tag, texts)
            self._names[key] = (name if self.indexed else normalise(name), found)
        return self._names[key] if keyword else self._names[key][0]

    def _encoding(self, charset: bytes) -> int:
        """The number of the encodings a data set's raw Specific Character Set names."""
        if charset not in self._encodings:
            value = convert_raw_data_element(RawDataElement(_CHARSET, "CS", len(charset),
                                                            charset, 0, False, True)).value
            found = convert_encodings(value)
            self._encodings[charset] = len(self._codecs)
            self._codecs.append([found] if isinstance(found, str) else list(found))
            self._ascii.append(all(_ascii_codec(c) for c in self._codecs[-1]))
        return self._encodings[charset]

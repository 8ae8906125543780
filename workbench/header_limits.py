"""Header limits: a byte-level walk over a header's element headers before it is parsed.

A crafted header can take pydicom minutes and gigabytes to parse. The walk
(tag, VR and length only; no elements built) counts sequence items at every
depth and how deep sequences nest, and stops at the first limit broken, so a
file over a limit is refused with a clear reason; a sequence or item of
undefined length that is never closed is found too. The defaults can be
overridden, read at each call, by environment variables:

``WORKBENCH_MAX_HEADER_MB``
    bytes before the pixel data, in MB of 2**20 bytes (default 256); for a
    deflated data set, the inflated bytes.
``WORKBENCH_MAX_ITEMS``
    sequence items, counted across all depths (default 2,000,000).
``WORKBENCH_MAX_DEPTH``
    sequences nested in sequences, a top-level sequence being 1 (default 64).
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from pydicom.datadict import dictionary_VR

from .errors import HeaderRefused

#: Float Pixel Data, Double Float Pixel Data, Pixel Data: where a header ends.
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

#: What to do about a header over a limit (the reason's second half).
_RAISE_OR_RESEND = ("if the file is genuine, raise {} and catalog it again; otherwise ask the "
                    "sender for the file as the modality wrote it")


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    """How big a header the catalog parses (see the module docstring for the variables)."""

    max_header_bytes: int = 256 << 20
    max_items: int = 2_000_000
    max_depth: int = 64

    @classmethod
    def from_env(cls) -> HeaderLimits:
        """The defaults, each overridden by its environment variable when that is set."""
        return _limits_from(tuple(os.environ.get(name, "") for name in LIMIT_VARIABLES))


LIMIT_VARIABLES = ("WORKBENCH_MAX_HEADER_MB", "WORKBENCH_MAX_ITEMS", "WORKBENCH_MAX_DEPTH")


@functools.lru_cache(maxsize=16)
def _limits_from(texts: tuple[str, str, str]) -> HeaderLimits:
    base = HeaderLimits()
    mb, items, depth = texts
    return HeaderLimits(_env_limit(LIMIT_VARIABLES[0], mb, base.max_header_bytes, 1 << 20),
                        _env_limit(LIMIT_VARIABLES[1], items, base.max_items),
                        _env_limit(LIMIT_VARIABLES[2], depth, base.max_depth))


def _env_limit(name: str, text: str, default: int, unit: int = 0) -> int:
    text = text.strip()
    if not text:
        return default
    try:
        value = float(text) * unit if unit else int(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise HeaderRefused(f"header limits not set: {name}={text!r} is not a positive "
                            f"{'number' if unit else 'whole number'}; correct it, or unset it "
                            "for the default")
    return int(value)


ITEM_BYTES = b"\xfe\xff\x00\xe0"
UNDEFINED = 0xFFFFFFFF
#: Explicit VRs whose length takes 4 bytes (after 2 reserved), and those whose takes 2.
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
BIG_ENDIAN_SYNTAX = "1.2.840.10008.1.2.2"
DEFLATED_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"})


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def walk_header(buf, pos: int, end: int, limits: HeaderLimits, *, big_endian: bool = False,
                implicit: bool = False, complete: bool = True, start: int = 0) -> int:
    """Walk a data set's element headers in ``buf[pos:end]`` without building elements.

    Counts sequence items at every depth and the depth sequences nest to, and
    raises :class:`HeaderRefused` when ``limits`` are broken or (``complete``:
    ``buf`` ends where the file does) a sequence or item of undefined length is
    never closed. Returns where the top level reaches pixel data (or where the
    walk ended). Bytes that do not read as elements end the walk, or the
    defined-length container they are in, without a finding: pydicom's parse
    reports what it makes of them. Returns where the top level meets pixel
    data, where the walk stopped, or (more than ``end - 8``) where the data ran
    out: past ``end`` or short of it, the last element is cut.
    """
    u16 = struct.Struct(">HH" if big_endian else "<HH").unpack_from
    u32 = struct.Struct(">L" if big_endian else "<L").unpack_from
    element_head = struct.Struct(">HHL" if big_endian else "<HHL").unpack_from
    s16 = struct.Struct(">H" if big_endian else "<H").unpack_from
    item_bytes = b"\xff\xfe\xe0\x00" if big_endian else ITEM_BYTES
    max_bytes, max_items, max_depth = limits.max_header_bytes, limits.max_items, limits.max_depth
    stack: list[tuple[int, bool, bool, int, int]] = []  # (end or -1, item?, implicit, tag, at)
    items = depth = 0
    here_implicit = implicit
    while True:
        while stack and 0 <= stack[-1][0] <= pos:  # defined-length containers ending here
            if not stack.pop()[1]:
                depth -= 1
            here_implicit = stack[-1][2] if stack else implicit
        if min(pos, end) - start > max_bytes:  # bytes there (a length past the end is not)
            raise HeaderRefused(
                f"header too large: more than {max_bytes:,} bytes before the pixel data (limit "
                f"{max_bytes:,} bytes); " + _RAISE_OR_RESEND.format("WORKBENCH_MAX_HEADER_MB"))
        ok = pos + 8 <= end
        if ok:
            group, element, length = element_head(buf, pos)
            if group == 0xFFFE:
                top = stack[-1] if stack else None
                if element == 0xE000 and top is not None and not top[1]:
                    items += 1
                    if items > max_items:
                        raise HeaderRefused(
                            f"header too large: more than {max_items:,} sequence items (limit "
                            f"{max_items:,}); " + _RAISE_OR_RESEND.format("WORKBENCH_MAX_ITEMS"))
                    stack.append((-1 if length == UNDEFINED else pos + 8 + length, True,
                                  here_implicit, top[3], pos))
                elif element == 0xE00D and top is not None and top[1] and top[0] < 0:
                    stack.pop()
                elif element == 0xE0DD and top is not None and top[0] < 0:
                    if top[1]:  # an item left open: its sequence's end closes it too
                        stack.pop()
                    if stack and not stack[-1][1] and stack[-1][0] < 0:
                        stack.pop()
                        depth -= 1
                    else:
                        ok = False
                else:
                    ok = False
                if ok:
                    here_implicit = stack[-1][2] if stack else implicit
                    pos += 8
                    continue
            else:
                tag = group << 16 | element
                if not stack and tag in PIXEL_TAGS:
                    return pos
                vr = None
                if here_implicit:
                    value = pos + 8
                else:
                    vr = buf[pos + 4:pos + 6]  # bytes, from bytes or an mmap
                    if vr in SHORT_VRS:
                        (length,) = s16(buf, pos + 6)
                        value = pos + 8
                    elif vr in LONG_VRS and pos + 12 <= end:
                        (length,) = u32(buf, pos + 8)
                        value = pos + 12
                    else:
                        ok = False
                if ok:
                    contents_implicit = here_implicit or vr == b"UN"
                    if length == UNDEFINED:
                        if tag in PIXEL_TAGS or vr in (b"OB", b"OW"):  # encapsulated, nested
                            pos = _skip_fragments(buf, value, end, u16, u32)
                            if pos < 0:
                                if complete and pos == -1:
                                    raise HeaderRefused(
                                        f"file truncated: the encapsulated {tag_text(tag)} at "
                                        f"byte {value - 8:,} is never closed; copy the file "
                                        "again from the original media")
                                ok = False
                            else:
                                continue
                        elif vr is None or vr in (b"SQ", b"UN"):
                            sequence = True
                        else:
                            ok = False
                    else:
                        sequence = (vr == b"SQ" or vr is None and _is_sequence(tag)
                                    or vr in (None, b"UN") and length >= 8
                                    and buf[value:value + 4] == item_bytes)
                    if ok and sequence:
                        depth += 1
                        if depth > max_depth:
                            raise HeaderRefused(
                                f"header too large: sequences nested more than {max_depth} deep "
                                f"(limit {max_depth}); "
                                + _RAISE_OR_RESEND.format("WORKBENCH_MAX_DEPTH"))
                        stack.append((-1 if length == UNDEFINED else value + length, False,
                                      contents_implicit, tag, pos))
                        here_implicit = contents_implicit
                        pos = value
                        continue
                    if ok:
                        pos = value + length
                        continue
        if pos + 8 > end:  # the data ends here
            open_ = [entry for entry in stack if entry[0] < 0]
            if complete and open_:
                what = "an item of" if open_[0][1] else "the sequence"
                raise HeaderRefused(
                    f"file truncated: {what} {tag_text(open_[0][3])} at byte {open_[0][4]:,} "
                    "has undefined length and is never closed before the end of the file; "
                    "copy the file again from the original media")
            return pos  # past ``end`` when the last element runs past it
        # bytes that are not an element: skip the innermost container with a length, or stop
        defined = [i for i, entry in enumerate(stack) if entry[0] >= 0]
        if not defined:
            return pos
        pos = stack[defined[-1]][0]
        del stack[defined[-1]:]
        depth = sum(1 for entry in stack if not entry[1])
        here_implicit = stack[-1][2] if stack else implicit


def _skip_fragments(buf, pos: int, end: int, u16, u32) -> int:
    """Where encapsulated data starting at ``pos`` ends; -1 when it is never closed, -2 when
    something other than an item or the sequence's end is met."""
    while pos + 8 <= end:
        group, element = u16(buf, pos)
        (length,) = u32(buf, pos + 4)
        if group != 0xFFFE or element not in (0xE000, 0xE0DD):
            return -2
        pos += 8
        if element == 0xE0DD:
            return pos
        pos += length
    return -1


def walk_file(buf, start: int, end: int, limits: HeaderLimits, complete: bool = True) -> bool:
    """Walk a file's (or a stream's) preamble, file meta and data set: see :func:`walk_header`.

    True when the walk finds the data cut inside an element (not for a deflated data set).
    """
    pos = start + 132 if buf[start + 128:start + 132] == b"DICM" else start
    syntax = ""
    while pos + 8 <= end and buf[pos:pos + 2] == b"\x02\x00":  # file meta: explicit VR LE
        vr = bytes(buf[pos + 4:pos + 6])
        if vr in SHORT_VRS:
            length, value = int.from_bytes(buf[pos + 6:pos + 8], "little"), pos + 8
        elif vr in LONG_VRS and pos + 12 <= end:
            length, value = int.from_bytes(buf[pos + 8:pos + 12], "little"), pos + 12
        else:
            break
        if length == UNDEFINED:
            break
        if buf[pos + 2:pos + 4] == b"\x10\x00":
            syntax = bytes(buf[value:value + min(length, 64)]).decode("latin-1").strip(" \0")
        pos = value + length
    if syntax in DEFLATED_SYNTAXES:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = inflater.decompress(bytes(buf[pos:end]), limits.max_header_bytes + 1)
        except zlib.error:
            return False  # pydicom reports the damage
        walk_header(data, 0, len(data), limits, start=-(pos - start),
                    complete=complete and inflater.eof)
        return False
    big = syntax == BIG_ENDIAN_SYNTAX
    vr = bytes(buf[pos + 4:pos + 6])
    stop = walk_header(buf, pos, end, limits, big_endian=big, start=start, complete=complete,
                       implicit=not big and not (vr.isalpha() and vr.isupper()))
    return stop != end and stop > end - 8


def check_header(fp: BinaryIO, start: int, limits: HeaderLimits, head: bytes | None = None,
                 end: int | None = None) -> None:
    """Raise :class:`HeaderRefused` when the header of the file open as ``fp`` breaks ``limits``.

    ``head`` is the file's first bytes from ``start`` and ``end`` where its
    header ends in them, when known: a header whose item tags are too few to
    break a limit is not walked. Otherwise the file is walked (mapped, not read).
    """
    if head is not None and end is not None:
        if end <= limits.max_header_bytes:
            found = head.count(ITEM_BYTES, 0, end)
            if found < limits.max_depth and found <= limits.max_items:
                return
        walk_file(head, 0, end, limits, complete=False)
        return
    at = fp.tell()
    try:
        try:
            buf = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
        except (AttributeError, OSError, ValueError):  # not a mappable file (or an empty one)
            fp.seek(0)
            buf = fp.read()
        try:
            walk_file(buf, start, len(buf), limits)
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
    finally:
        fp.seek(at)


@functools.lru_cache(maxsize=None)
def _is_sequence(tag: int) -> bool:
    """True for a public tag the data dictionary knows as a sequence."""
    try:
        return not tag >> 16 & 1 and dictionary_VR(tag) == "SQ"
    except KeyError:
        return False

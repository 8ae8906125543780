"""Index folders of DICOM (headers only) into instances, series and studies.

A header is checked against :class:`HeaderLimits` before pydicom parses more
than the file's first 64 KB: a byte-level walk over element headers (tag, VR,
length) counts sequence items at every depth and how deep sequences nest, so
a crafted header cannot take minutes and gigabytes to parse. A file over a
limit is cataloged as unreadable ("header too large: ..."), and so is one
whose sequence or item of undefined length is never closed. The limits'
defaults can be overridden, read at each call, by environment variables:

``WORKBENCH_MAX_HEADER_MB``
    bytes before the pixel data, in MB of 2**20 bytes (default 256); for a
    deflated data set, the inflated bytes.
``WORKBENCH_MAX_ITEMS``
    sequence items, counted across all depths (default 2,000,000).
``WORKBENCH_MAX_DEPTH``
    sequences nested in sequences, a top-level sequence being 1 (default 64).

Compressed pixel data is walked fragment by fragment (without reading it): a
fragment running past the end of the file, a sequence never closed, or fewer
fragments than frames make the file unreadable. Native pixel data shorter than
its attributes promise is unreadable; longer (beyond the one byte padding an
odd length) is kept and logged as a warning on the ``workbench`` logger.
"""

from __future__ import annotations

import functools
import logging
import mmap
import os
import stat
import struct
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from io import BytesIO
from typing import BinaryIO, Iterator

from pydicom import dcmread
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.values import convert_value

logger = logging.getLogger("workbench")

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
HEAD_BYTES = 1 << 16
#: Float Pixel Data, Double Float Pixel Data, Pixel Data: where a header ends.
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
#: Transfer syntaxes :func:`read_part10` reads: UID -> implicit VR.
NATIVE_SYNTAXES = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
TRANSFER_SYNTAX = BaseTag(0x00020010)
SPECIFIC_CHARACTER_SET = BaseTag(0x00080005)


@dataclass(slots=True)
class Instance:
    """One DICOM file as the catalog sees it (no pixel data read)."""

    path: str
    size: int
    sop_class: str
    sop_uid: str
    study_uid: str
    series_uid: str
    modality: str
    patient_id: str
    patient_name: str
    accession: str
    study_date: str
    study_description: str
    series_number: int | None
    series_description: str
    instance_number: int | None


@dataclass(slots=True)
class Skipped:
    """A file the catalog did not take, and why (``kind``: not-dicom, dicomdir, unreadable,
    not-a-file)."""

    path: str
    kind: str
    reason: str


@functools.lru_cache(maxsize=None)
def _tag(keyword: str) -> BaseTag:
    return BaseTag(tag_for_keyword(keyword))  # pydicom looks a BaseTag up without converting it


def elements(ds: Dataset) -> list[tuple[BaseTag, DataElement | RawDataElement]]:
    """The (tag, element) pairs of ``ds``, each element as ``ds.get_item`` gives it.

    Elements stay as read (undecoded) without a lookup per tag; only a raw
    element without a value is converted, as ``get_item`` does.
    """
    return [(tag, ds.get_item(tag) if type(elem) is RawDataElement and elem.value is None
             else elem) for tag, elem in ds.items()]


#: VRs whose single value pydicom decodes to its text less trailing spaces and NULs.
PLAIN_VRS = frozenset({"CS", "LO", "LT", "PN", "SH", "ST", "UC", "UI", "UT"})


@functools.lru_cache(maxsize=None)
def implicit_vr(tag: int) -> str | None:
    """The VR of an element read without one (implicit VR), when a single VR is known.

    That is the data dictionary's VR of a public tag, and LO for a private
    creator (PS3.5 7.8.1); None for other private tags and unknown ones.
    """
    if tag >> 16 & 1:
        return "LO" if 0x10 <= tag & 0xFFFF <= 0xFF else None
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def raw_vr(elem: RawDataElement) -> str | None:
    """A raw element's VR: as read, or for implicit VR the one :func:`implicit_vr` knows."""
    return elem.VR or implicit_vr(elem.tag)


def raw_text(elem) -> str | None:
    """A raw element's single ASCII value as pydicom decodes it; None when pydicom must."""
    if type(elem) is RawDataElement and raw_vr(elem) in PLAIN_VRS:
        value = elem.value
        if (isinstance(value, bytes) and value.isascii()
                and b"\\" not in value and b"\x1b" not in value):  # one value, no ISO 2022
            return value.decode("ascii").rstrip(" \0")
    return None


def get_value(ds: Dataset, keyword: str, default=None):
    """``ds.get(keyword, default)``, a single ASCII text or US value read straight from its bytes.

    pydicom's conversion of one element costs more than reading it; every
    other value is still converted by pydicom (see :func:`decoded`).
    """
    tag = _tag(keyword)
    elem = ds.get_item(tag)
    if elem is None:
        return default
    text = raw_text(elem)
    if text is not None:
        return text
    if type(elem) is RawDataElement and raw_vr(elem) == "US" and elem.length == 2:
        return int.from_bytes(elem.value, "little" if elem.is_little_endian else "big")
    return decoded(ds, tag, elem)


def decoded(ds: Dataset, tag: BaseTag, elem: DataElement | RawDataElement):
    """``ds[tag].value`` for ``ds``'s element ``elem``, leaving ``ds`` as it is.

    A raw text or sequence value is decoded by pydicom's converter alone,
    which costs less than making and storing a converted element.
    """
    if type(elem) is RawDataElement and ds.original_character_set:
        vr = raw_vr(elem)
        if vr in PLAIN_VRS or vr == "SQ":
            return convert_value(vr, elem, ds.original_character_set)
    return ds[tag].value


def peek(ds, keyword: str) -> str:
    """An attribute's value as text, without decoding the element in ``ds``.

    ASCII values are read straight from the undecoded bytes; anything else
    goes through pydicom so character sets are honoured. Multiple values
    stay joined by a backslash.
    """
    tag = _tag(keyword)
    elem = ds.get_item(tag)
    if elem is None:
        return ""
    value = getattr(elem, "value", None)
    if (isinstance(value, bytes) and value.isascii() and b"\x1b" not in value  # no ISO 2022
            and getattr(elem, "VR", None) != "SQ"):
        return value.decode("ascii").strip(" \0")
    value = decoded(ds, tag, elem)
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class TruncatedFile(EOFError):
    """A file that ends before its last element does."""


class HeaderRefused(ValueError):
    """A header the catalog does not parse; the message is the whole reason."""


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


def _tag_text(tag: int) -> str:
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
                                        f"file truncated: the encapsulated {_tag_text(tag)} at "
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
                        sequence = (vr == b"SQ" or vr is None and implicit_vr(tag) == "SQ"
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
                    f"file truncated: {what} {_tag_text(open_[0][3])} at byte {open_[0][4]:,} "
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


def _walk_file(buf, start: int, end: int, limits: HeaderLimits, complete: bool = True) -> bool:
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
        _walk_file(head, 0, end, limits, complete=False)
        return
    at = fp.tell()
    try:
        try:
            buf = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
        except (AttributeError, OSError, ValueError):  # not a mappable file (or an empty one)
            fp.seek(0)
            buf = fp.read()
        try:
            _walk_file(buf, start, len(buf), limits)
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
    finally:
        fp.seek(at)


def _not_meta(tag: int, vr, length: int) -> bool:
    return tag >> 16 != 2


def read_part10(data: bytes, tags=None, to_pixels: bool = True
                ) -> tuple[Dataset, int | None] | None:
    """A Part 10 file's data set up to its pixel data, parsed from ``data`` (its first bytes).

    Returns the dataset, with its ``file_meta`` and original encoding set as
    dcmread sets them, and the offset in ``data`` of the pixel data element
    (None when ``data`` ends first, or with ``to_pixels`` False, which reads
    every element); ``tags`` keeps only those elements. Raises EOFError when
    ``data`` ends inside an element.

    Only the common case is read: a preamble, file meta, and an uncompressed
    little endian data set that starts as its transfer syntax says. pydicom's
    element generator reads it without what dcmread adds per file (file meta
    validation, a command set, a FileDataset), which is a third of the cost of
    parsing a header. Anything else gives None, and the caller uses dcmread.
    """
    if data[128:132] != b"DICM":
        return None
    fp = BytesIO(data)
    fp.seek(132)
    meta = {e.tag: e for e in data_element_generator(fp, False, True, stop_when=_not_meta)}
    implicit = NATIVE_SYNTAXES.get(raw_text(meta.get(TRANSFER_SYNTAX)))
    start = fp.tell()
    vr = data[start + 4:start + 6]
    if implicit is None or implicit == (vr.isalpha() and vr.isupper()):  # VR not as said
        return None
    found: dict[BaseTag, DataElement | RawDataElement] = {}
    offset = last = None
    wanted = [*tags, *PIXEL_TAGS] if tags is not None else None
    for elem in data_element_generator(fp, implicit, True, specific_tags=wanted):
        if to_pixels and elem.tag in PIXEL_TAGS:
            offset = elem.value_tell - (8 if implicit else 12)
            break
        found[elem.tag] = last = elem
    else:  # skipped past the end, or read a value short
        if fp.tell() > len(data) or type(last) is RawDataElement and (
                last.length != 0xFFFFFFFF and len(last.value or b"") < last.length):
            raise EOFError("the data set ends inside an element")
    ds = Dataset(found)
    ds.file_meta = FileMetaDataset(meta)
    charset = found.get(SPECIFIC_CHARACTER_SET)
    ds.set_original_encoding(implicit, True, convert_encodings(
        convert_raw_data_element(charset).value) if charset is not None else default_encoding)
    return ds, offset


def parse_header(fp: BinaryIO, force: bool = False, tags=None,
                 limits: HeaderLimits | None = None) -> Dataset:
    """The dataset of an open file up to its pixel data, leaving ``fp`` at the pixel data.

    The header is parsed from one read of the file's first 64 KB (pydicom reads
    element by element, which costs more on a file object), by
    :func:`read_part10` when it can (``tags`` then limits the elements kept),
    else by dcmread; a longer header is parsed from the file itself, as is any
    file the first tries cannot parse. With ``limits``, the header is checked
    by :func:`check_header` (raising :class:`HeaderRefused`) before the file
    itself is parsed, and after a parse of the first 64 KB.
    """
    start = fp.tell()
    head = fp.read(HEAD_BYTES)
    try:
        parsed = read_part10(head, tags)
    except EOFError as exc:
        if len(head) < HEAD_BYTES:  # the whole file was read
            if limits is not None:  # a sequence never closed is named
                _walk_file(head, 0, len(head), limits)
            raise TruncatedFile("the file ends inside its header") from exc
        parsed = None  # a header longer than the first read
    except Exception:  # noqa: BLE001 - dcmread below reads it, or gives the error worth reporting
        parsed = None
    if parsed is not None and (parsed[1] is not None or len(head) < HEAD_BYTES):
        ds, offset = parsed
        end = len(head) if offset is None else offset
        if limits is not None:
            check_header(fp, start, limits, head, end)
        fp.seek(start + end)
        return ds
    buf = BytesIO(head)
    ds = None
    try:
        ds = dcmread(buf, stop_before_pixels=True, force=force)
    except Exception:  # noqa: BLE001 - the file itself gives the error worth reporting
        pass
    if ds is not None and (buf.tell() < len(head) or len(head) < HEAD_BYTES):  # at the pixels,
        if limits is not None:                                                 # or all read
            syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            if syntax in DEFLATED_SYNTAXES:  # the bytes read are not the header's
                check_header(fp, start, limits)
            elif buf.tell() == len(head) < HEAD_BYTES and head[128:132] == b"DICM":
                if _walk_file(head, 0, len(head), limits):  # dcmread took a value cut short
                    raise TruncatedFile("the file ends inside its header")
            else:
                check_header(fp, start, limits, head, buf.tell())
        fp.seek(start + buf.tell())
        return ds
    if limits is not None and (force or head[128:132] == b"DICM"):  # else dcmread refuses it
        check_header(fp, start, limits)
    fp.seek(start)
    return dcmread(fp, stop_before_pixels=True, force=force)


#: The elements the catalog reads (an instance's fields, and the size of its pixel data).
CATALOG_TAGS = tuple(tag_for_keyword(kw) for kw in (
    "SOPClassUID", "SOPInstanceUID", "StudyDate", "AccessionNumber", "Modality",
    "StudyDescription", "SeriesDescription", "PatientName", "PatientID", "StudyInstanceUID",
    "SeriesInstanceUID", "SeriesNumber", "InstanceNumber", "SamplesPerPixel", "NumberOfFrames",
    "Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"))


def read_header(path: str, limits: HeaderLimits | None = None) -> Instance | Skipped:
    """Catalog one file: an :class:`Instance`, or :class:`Skipped` with a reason.

    ``limits`` bound the header parsed; by default :meth:`HeaderLimits.from_env`
    (``HeaderLimits()`` as the environment overrides it, read at each call).
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # opening a FIFO would wait for a writer forever
            what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) \
                else "a device"
            return Skipped(path, "not-a-file", f"{what}, not a file: not read")
        if limits is None:
            limits = HeaderLimits.from_env()
        with open(path, "rb") as fp:
            try:
                ds = parse_header(fp, tags=CATALOG_TAGS, limits=limits)
            except TruncatedFile as exc:
                return Skipped(path, "unreadable", f"file truncated: {exc}; copy the file again "
                               "from the original media")
            except InvalidDicomError:
                fp.seek(0)
                try:
                    ds = parse_header(fp, force=True, limits=limits)
                except HeaderRefused:
                    fp.seek(0)
                    if fp.read(2) not in (b"\x02\x00", b"\x08\x00"):  # not DICOM-like at all
                        return Skipped(path, "not-dicom",
                                       "not a DICOM file (no DICM prefix, no SOP UID)")
                    raise
                if "SOPInstanceUID" not in ds:
                    return Skipped(path, "not-dicom",
                                   "not a DICOM file (no DICM prefix, no SOP UID)")
            size = os.fstat(fp.fileno()).st_size
            ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            short = extra = 0
            damage = None
            if ts is not None and ts.is_encapsulated:
                damage = _fragments_damaged(ds, fp, size, ts)
            elif ts is not None:
                short, extra = _native_pixels(ds, fp, size, ts)
        if short:
            return Skipped(path, "unreadable", f"file truncated: the pixel data lacks {short} "
                           "bytes; copy the file again from the original media")
        if damage:
            return Skipped(path, "unreadable", damage)
        if extra:
            logger.warning("%s: the pixel data has %d bytes more than Rows x Columns x frames x "
                           "samples x BitsAllocated / 8; kept as it is", path, extra)
        meta = getattr(ds, "file_meta", None)
        if meta is not None and get_value(meta, "MediaStorageSOPClassUID") == DICOMDIR_CLASS:
            return Skipped(path, "dicomdir", "DICOMDIR (a media index, not an image)")
        sop = peek(ds, "SOPInstanceUID")
        if not sop:
            return Skipped(path, "unreadable", "no SOP Instance UID: cannot track this file")
        text = lambda kw: peek(ds, kw)  # noqa: E731
        return Instance(
            path=path, size=size, sop_class=text("SOPClassUID"), sop_uid=sop,
            study_uid=text("StudyInstanceUID"), series_uid=text("SeriesInstanceUID"),
            modality=text("Modality"), patient_id=text("PatientID"),
            patient_name=text("PatientName"), accession=text("AccessionNumber"),
            study_date=text("StudyDate"), study_description=text("StudyDescription"),
            series_number=_int(text("SeriesNumber")),
            series_description=text("SeriesDescription"),
            instance_number=_int(text("InstanceNumber")),
        )
    except HeaderRefused as exc:
        return Skipped(path, "unreadable", str(exc))
    except Exception as exc:  # any parse failure is a finding, not a crash
        return Skipped(path, "unreadable", f"cannot parse as DICOM: {type(exc).__name__}: {exc}")


def _pixels_short(ds, fp, size: int) -> int:
    """How many bytes of native pixel data are missing (0 when complete or not checkable)."""
    return _native_pixels(ds, fp, size)[0]


def _native_pixels(ds, fp, size: int, ts=None) -> tuple[int, int]:
    """How many bytes native pixel data lacks, and how many it has beyond (0, 0 when right).

    The expected length is Rows x Columns x frames x samples x BitsAllocated / 8, rounded
    up (1-bit data packs eight pixels a byte; YBR_FULL_422 holds two samples a pixel).
    Both the element's declared length and the bytes in the file must reach it. Beyond
    it, the one byte that pads an odd length to an even one is not counted.
    """
    if ts is None:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or ts.is_compressed or "Rows" not in ds:
        return 0, 0
    start = fp.tell()
    head_size = 8 if ts.is_implicit_VR else 12
    head = fp.read(head_size)
    fp.seek(start)
    if head[:4] != PIXEL_DATA_TAG or len(head) < head_size:
        return 0, 0
    declared = int.from_bytes(head[-4:], "little")
    try:
        samples = int(get_value(ds, "SamplesPerPixel") or 1)
        if str(get_value(ds, "PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
            samples = 2
        bits = (int(get_value(ds, "Rows")) * int(get_value(ds, "Columns")) * samples
                * int(get_value(ds, "NumberOfFrames") or 1) * int(get_value(ds, "BitsAllocated")))
    except (AttributeError, TypeError, ValueError):
        return 0, 0
    expected = -(-bits // 8)
    have = size - start - len(head)
    extra = 0
    if declared != 0xFFFFFFFF:
        have = min(have, declared)
        if ts.is_little_endian:
            extra = max(0, declared - expected - (expected & 1))
    return max(0, expected - have), extra


#: Transfer syntaxes (MPEG-2, MPEG-4, H.264, HEVC) whose fragments hold a stream, not frames.
VIDEO_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.100.1", "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.101.1", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.102.1",
    "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.103.1", "1.2.840.10008.1.2.4.104",
    "1.2.840.10008.1.2.4.104.1", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.105.1",
    "1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.106.1", "1.2.840.10008.1.2.4.107",
    "1.2.840.10008.1.2.4.108"})
_AGAIN = "; copy the file again from the original media"


def _fragments_damaged(ds, fp, size: int, ts=None) -> str | None:
    """Why encapsulated pixel data at ``fp`` is incomplete, or None.

    Each item (FFFE,E000 and a 4-byte length; the first is the Basic Offset
    Table) is skipped by its length, not read, to the sequence delimiter
    (FFFE,E0DD). A fragment running past the end of the file, a sequence the
    file ends in, and, in a multi-frame image that is not a video, fewer
    fragments than frames (a frame takes one fragment at least) are reasons.
    """
    if ts is None:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or not ts.is_encapsulated:
        return None
    fd = fp.fileno()  # pread leaves fp where it is, and reads no more than asked
    start = fp.tell()
    head = os.pread(fd, 12, start)
    if head[:4] != PIXEL_DATA_TAG or head[8:12] != b"\xff\xff\xff\xff":
        return None
    pos, fragments = start + 12, -1  # the offset table is not a fragment
    name = lambda n: "the Basic Offset Table" if n < 1 else f"fragment {n}"  # noqa: E731
    while True:
        item = os.pread(fd, 8, pos)
        if len(item) < 8:
            return (f"file truncated: the compressed pixel data is never closed (the file ends "
                    f"after {name(fragments)}){_AGAIN}")
        if item[:4] == b"\xfe\xff\xdd\xe0":
            break
        if item[:4] != ITEM_BYTES:
            group, element = struct.unpack_from("<HH", item)
            return (f"pixel data damaged: {_tag_text(group << 16 | element)} at byte {pos:,} "
                    f"where {name(fragments + 1)} or the end of the compressed pixel data "
                    f"should be{_AGAIN}")
        fragments += 1
        pos += 8 + int.from_bytes(item[4:], "little")
        if pos > size:
            return (f"file truncated: the compressed pixel data ends inside {name(fragments)}"
                    f"{_AGAIN}")
    frames = _int(get_value(ds, "NumberOfFrames")) or 1
    if frames > 1 and 0 <= fragments < frames and ts not in VIDEO_SYNTAXES:
        return (f"file truncated: the compressed pixel data holds {fragments} fragments for "
                f"{frames} frames (a frame takes one fragment at least){_AGAIN}")
    return None


def files_under(src: str | os.PathLike) -> Iterator[str]:
    """Every regular file under ``src`` in a stable order (hidden files included)."""
    src = Path(src)
    if src.is_file():
        yield str(src)
        return
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def scan(src: str | os.PathLike, map_fn=map) -> tuple[list[Instance], list[Skipped]]:
    """Catalog every file under ``src``; ``map_fn`` may be an executor's map."""
    instances, skipped = [], []
    for rec in map_fn(read_header, list(files_under(src))):
        (instances if isinstance(rec, Instance) else skipped).append(rec)
    return instances, skipped


def to_frame(instances: list[Instance]):
    """Instances as a pandas DataFrame, built column by column (pandas imported only here)."""
    import pandas as pd

    return pd.DataFrame({f.name: [getattr(i, f.name) for i in instances]
                         for f in fields(Instance)})


def series_table(instances: list[Instance]):
    """One row per series: patient, date, modality, description, counts, size, SOP class."""
    df = to_frame(instances)
    if df.empty:
        return df
    keys = ["patient_name", "patient_id", "study_date", "study_uid", "series_uid"]
    return (df.groupby(keys, dropna=False)
              .agg(modality=("modality", "first"), series_number=("series_number", "first"),
                   description=("series_description", "first"), sop_class=("sop_class", "first"),
                   instances=("sop_uid", "nunique"), files=("path", "count"),
                   megabytes=("size", lambda s: round(s.sum() / 1e6, 2)))
              .reset_index().sort_values(["patient_id", "study_date", "series_number"]))

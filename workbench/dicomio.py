"""Reading and writing DICOM at the byte level, faster than pydicom's defaults for
the common case and the same values as pydicom's.

Element access leaves a dataset's elements undecoded (:func:`elements`,
:func:`get_value`, :func:`peek`); :func:`parse_header` reads a file's header
from one read of its first 64 KB (:func:`read_part10` for the common case,
else pydicom's dcmread), checking it against :mod:`workbench.header_limits`
first when asked; :func:`encode` writes a dataset as pydicom's ``dcmwrite``
would, copying undecoded elements byte for byte. The engine reads and writes
with these; the verifier does not (it reads outputs with pydicom alone).
"""

from __future__ import annotations

import functools
import struct
from io import BytesIO
from typing import BinaryIO

from pydicom import dcmread
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import data_element_generator
from pydicom.filewriter import dcmwrite, write_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import PersonName
from pydicom.values import convert_value

from .errors import TruncatedFile
from .header_limits import DEFLATED_SYNTAXES, PIXEL_TAGS, HeaderLimits, check_header, walk_file

PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
HEAD_BYTES = 1 << 16
#: Transfer syntaxes :func:`read_part10` reads: UID -> implicit VR.
NATIVE_SYNTAXES = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
TRANSFER_SYNTAX = BaseTag(0x00020010)
SPECIFIC_CHARACTER_SET = BaseTag(0x00080005)


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


@functools.lru_cache(maxsize=None)
def dictionary_vr(tag: int) -> str:
    """The VR the engine takes for an element: the data dictionary's (the first where it
    allows several, as "US or SS"), LO for a private creator, UN for a tag it does not know."""
    return implicit_vr(tag) or _first_vr(tag)


def _first_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"


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
                walk_file(head, 0, len(head), limits)
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
                if walk_file(head, 0, len(head), limits):  # dcmread took a value cut short
                    raise TruncatedFile("the file ends inside its header")
            else:
                check_header(fp, start, limits, head, buf.tell())
        fp.seek(start + buf.tell())
        return ds
    if limits is not None and (force or head[128:132] == b"DICM"):  # else dcmread refuses it
        check_header(fp, start, limits)
    fp.seek(start)
    return dcmread(fp, stop_before_pixels=True, force=force)


# VRs whose single str value, when ASCII-only, encodes as its ASCII bytes in every
# character set DICOM allows (ISO 2022 starts in ASCII; UR is always ASCII).
ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "SH", "LO", "ST", "LT", "UT",
                       "UC", "UR", "PN"})
GROUP_LENGTH = 0x00020000
LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                             "UT", "UV"})


def raw_element(tag: int, vr: str, value: str | bytes, implicit: bool | None) -> RawDataElement:
    """An element that :func:`encode` writes byte for byte, without pydicom's per-element cost.

    ``value`` is ASCII text (padded here to even length) or an already encoded
    value; ``implicit`` is the transfer syntax the value is encoded for (an
    element of another syntax is simply encoded by pydicom instead).
    """
    if isinstance(value, str):
        value = _ascii_value(value, vr)
    return RawDataElement(BaseTag(tag), vr, len(value), value, 0, implicit, True)


def _ascii_value(text: str, vr: str) -> bytes:
    """ASCII text as an element value, padded to even length as the VR requires."""
    value = text.encode("ascii")
    return value + (b"\0" if vr == "UI" else b" ") if len(value) % 2 else value


def encode(ds: Dataset) -> bytes:
    """Serialise a dataset as a Part 10 file (preamble, file meta, dataset).

    Elements still as read from the source (never decoded) are passed through
    byte for byte, single-valued ASCII-only values are encoded directly, and
    everything else is encoded by pydicom. The bytes are the same as
    pydicom's ``dcmwrite`` gives, several times faster for a header that was
    mostly left alone.
    """
    ts = ds.file_meta.TransferSyntaxUID
    if ts.is_deflated or not ts.is_little_endian:
        buf = BytesIO()
        dcmwrite(buf, ds)
        return buf.getvalue()
    meta = _elements(ds.file_meta, implicit=False, skip=GROUP_LENGTH)
    length = struct.pack("<HH2sHI", 2, 0, b"UL", 4, sum(map(len, meta)))
    body = _elements(ds, implicit=ts.is_implicit_VR)
    return b"".join([ds.preamble or b"\0" * 128, b"DICM", length, *meta, *body])


def _int_tag(item: tuple) -> int:
    return int(item[0])  # comparing pydicom's tags runs in Python


def _elements(ds: Dataset, implicit: bool, skip: int | None = None) -> list[bytes]:
    """The encoded elements of ``ds`` in tag order (little endian)."""
    parts = []
    for tag, elem in sorted(elements(ds), key=_int_tag):
        if skip is not None and tag == skip:
            continue
        value = getattr(elem, "value", None)
        if type(elem) is not RawDataElement and elem.VR in ASCII_VRS and (
                value is None or type(value) in (str, UID, PersonName)
                and str(value).isascii()):
            value = _ascii_value(str(value or ""), elem.VR)
        elif not (type(elem) is RawDataElement and isinstance(value, bytes)
                  and elem.is_implicit_VR == implicit and elem.is_little_endian
                  and elem.length != 0xFFFFFFFF):
            buf = DicomBytesIO()
            buf.is_little_endian, buf.is_implicit_VR = True, implicit
            write_data_element(buf, ds[tag])
            parts.append(buf.getvalue())
            continue
        if implicit:
            parts.append(struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)))
        elif elem.VR in LONG_LENGTH_VRS:
            parts.append(struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, elem.VR.encode(), 0,
                                     len(value)))
        else:
            parts.append(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, elem.VR.encode(),
                                     len(value)))
        parts.append(value)
    return parts

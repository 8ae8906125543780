"""Index folders of DICOM (headers only) into instances, series and studies."""

from __future__ import annotations

import functools
import os
import stat
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


def parse_header(fp: BinaryIO, force: bool = False, tags=None) -> Dataset:
    """The dataset of an open file up to its pixel data, leaving ``fp`` at the pixel data.

    The header is parsed from one read of the file's first 64 KB (pydicom reads
    element by element, which costs more on a file object), by
    :func:`read_part10` when it can (``tags`` then limits the elements kept),
    else by dcmread; a longer header is parsed from the file itself, as is any
    file the first tries cannot parse.
    """
    start = fp.tell()
    head = fp.read(HEAD_BYTES)
    try:
        parsed = read_part10(head, tags)
    except EOFError as exc:
        if len(head) < HEAD_BYTES:  # the whole file was read
            raise TruncatedFile("the file ends inside its header") from exc
        parsed = None  # a header longer than the first read
    except Exception:  # noqa: BLE001 - dcmread below reads it, or gives the error worth reporting
        parsed = None
    if parsed is not None and (parsed[1] is not None or len(head) < HEAD_BYTES):
        ds, offset = parsed
        fp.seek(start + (len(head) if offset is None else offset))
        return ds
    buf = BytesIO(head)
    try:
        ds = dcmread(buf, stop_before_pixels=True, force=force)
        if buf.tell() < len(head) or len(head) < HEAD_BYTES:  # at the pixels, or all read
            fp.seek(start + buf.tell())
            return ds
    except Exception:  # noqa: BLE001 - the file itself gives the error worth reporting
        pass
    fp.seek(start)
    return dcmread(fp, stop_before_pixels=True, force=force)


#: The elements the catalog reads (an instance's fields, and the size of its pixel data).
CATALOG_TAGS = tuple(tag_for_keyword(kw) for kw in (
    "SOPClassUID", "SOPInstanceUID", "StudyDate", "AccessionNumber", "Modality",
    "StudyDescription", "SeriesDescription", "PatientName", "PatientID", "StudyInstanceUID",
    "SeriesInstanceUID", "SeriesNumber", "InstanceNumber", "SamplesPerPixel", "NumberOfFrames",
    "Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"))


def read_header(path: str) -> Instance | Skipped:
    """Catalog one file: an :class:`Instance`, or :class:`Skipped` with a reason."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # opening a FIFO would wait for a writer forever
            what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) \
                else "a device"
            return Skipped(path, "not-a-file", f"{what}, not a file: not read")
        with open(path, "rb") as fp:
            try:
                ds = parse_header(fp, tags=CATALOG_TAGS)
            except TruncatedFile as exc:
                return Skipped(path, "unreadable", f"file truncated: {exc}; copy the file again "
                               "from the original media")
            except InvalidDicomError:
                fp.seek(0)
                ds = parse_header(fp, force=True)
                if "SOPInstanceUID" not in ds:
                    return Skipped(path, "not-dicom",
                                   "not a DICOM file (no DICM prefix, no SOP UID)")
            size = os.fstat(fp.fileno()).st_size
            short = _pixels_short(ds, fp, size)
        if short:
            return Skipped(path, "unreadable", f"file truncated: the pixel data lacks {short} "
                           "bytes; copy the file again from the original media")
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
    except Exception as exc:  # any parse failure is a finding, not a crash
        return Skipped(path, "unreadable", f"cannot parse as DICOM: {type(exc).__name__}: {exc}")


def _pixels_short(ds, fp, size: int) -> int:
    """How many bytes of native pixel data are missing (0 when complete or not checkable).

    The expected length is Rows x Columns x frames x samples x BitsAllocated / 8, rounded
    up (1-bit data packs eight pixels a byte; YBR_FULL_422 holds two samples a pixel).
    Both the element's declared length and the bytes in the file must reach it.
    """
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or ts.is_compressed or "Rows" not in ds:
        return 0
    start = fp.tell()
    head_size = 8 if ts.is_implicit_VR else 12
    head = fp.read(head_size)
    if head[:4] != PIXEL_DATA_TAG or len(head) < head_size:
        return 0
    declared = int.from_bytes(head[-4:], "little")
    try:
        samples = int(get_value(ds, "SamplesPerPixel") or 1)
        if str(get_value(ds, "PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
            samples = 2
        bits = (int(get_value(ds, "Rows")) * int(get_value(ds, "Columns")) * samples
                * int(get_value(ds, "NumberOfFrames") or 1) * int(get_value(ds, "BitsAllocated")))
    except (AttributeError, TypeError, ValueError):
        return 0
    expected = -(-bits // 8)
    have = size - start - len(head)
    if declared != 0xFFFFFFFF:
        have = min(have, declared)
    return max(0, expected - have)


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

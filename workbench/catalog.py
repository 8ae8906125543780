"""Index folders of DICOM (headers only) into instances, series and studies.

Each file is cataloged as an :class:`Instance` or :class:`Skipped` with a
reason; nothing that cannot be fully known is taken. A header is checked
against :class:`~workbench.header_limits.HeaderLimits` before it is parsed
beyond its first 64 KB. Compressed pixel data is walked fragment by fragment
(without reading it): a fragment running past the end of the file, a sequence
never closed, or fewer fragments than frames make the file unreadable. Native
pixel data shorter than its attributes promise is unreadable; longer (beyond
the one byte padding an odd length) is kept and logged as a warning on the
``workbench`` logger.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError

from .dicomio import PIXEL_DATA_TAG, get_value, parse_header, peek
from .errors import HeaderRefused, TruncatedFile, WorkbenchError
from .header_limits import ITEM_BYTES, HeaderLimits, tag_text

logger = logging.getLogger("workbench")

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


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


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


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


def _native_pixels(ds, fp, size: int, ts) -> tuple[int, int]:
    """How many bytes native pixel data lacks, and how many it has beyond (0, 0 when right).

    The expected length is Rows x Columns x frames x samples x BitsAllocated / 8, rounded
    up (1-bit data packs eight pixels a byte; YBR_FULL_422 holds two samples a pixel).
    Both the element's declared length and the bytes in the file must reach it. Beyond
    it, the one byte that pads an odd length to an even one is not counted.
    """
    if ts.is_compressed or "Rows" not in ds:
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


def _fragments_damaged(ds, fp, size: int, ts) -> str | None:
    """Why encapsulated pixel data at ``fp`` is incomplete, or None.

    Each item (FFFE,E000 and a 4-byte length; the first is the Basic Offset
    Table) is skipped by its length, not read, to the sequence delimiter
    (FFFE,E0DD). A fragment running past the end of the file, a sequence the
    file ends in, and, in a multi-frame image that is not a video, fewer
    fragments than frames (a frame takes one fragment at least) are reasons.
    """
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
            return (f"pixel data damaged: {tag_text(group << 16 | element)} at byte {pos:,} "
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


def scan(src: str | os.PathLike, map_fn=map, progress: bool = False
         ) -> tuple[list[Instance], list[Skipped]]:
    """Catalog every file under ``src``; ``map_fn`` may be an executor's map."""
    if not os.path.exists(src):
        raise WorkbenchError(f"{src}: no such file or folder; give the delivery folder to "
                             "catalog.", path=str(src))
    instances, skipped = [], []
    files = list(files_under(src))
    records = map_fn(read_header, files)
    if progress:
        from .progress import progress_bar

        records = progress_bar(records, total=len(files), desc="scan", unit="file")
    for rec in records:
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

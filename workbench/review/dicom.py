"""Reading a file's header for review, and naming and formatting its elements."""

from __future__ import annotations

import os
import re

from pydicom import dcmread
from pydicom.datadict import dictionary_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..errors import ReviewError


BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
PIXEL_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
_INDEX = re.compile(r"\[\d+\]")


def normalise(path: str) -> str:
    """An attribute path without item indices: ``A[0].B[2].C`` -> ``A.B.C``."""
    return _INDEX.sub("", path)


def value_text(elem) -> str:
    """An element's value as review text (binary data as a byte count, sequences as items)."""
    vr, value = elem.VR, elem.value
    if vr == "SQ":
        return f"{len(value or [])} item(s)"
    if value is None or value == "" or value == b"":
        return ""
    if isinstance(value, bytes):
        text = _printable(value) if vr in ("UN", "OB") else None
        return text if text is not None else f"<{len(value)} bytes>"
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _printable(data: bytes) -> str | None:
    """Text hidden in an undecoded value (private UN elements), or None when binary."""
    data = data.rstrip(b"\0 ")
    if not data or len(data) > 1024:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text if text.replace("\\", "").isprintable() else None


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _keyword(tag: int) -> str:
    """The keyword of a standard tag, repeating groups (overlays, curves) included."""
    try:
        return dictionary_keyword(tag)
    except KeyError:
        return ""


def element_name(tag: int, creators: dict[tuple[int, int], str]) -> tuple[str, str, str | None]:
    """``(name, keyword, creator)`` of an element in a dataset whose private creators are
    ``creators`` (by group and block): private elements are named by creator."""
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1 and element >= 0x1000 and (group, element >> 8) in creators:
        creator = creators[(group, element >> 8)]
        return f'({group:04X},"{creator}",{element & 0xFF:02X})', "", creator
    if group & 1:
        return _tag(tag), "PrivateCreator" if 0x10 <= element <= 0xFF else "", None
    if element == 0:
        return _tag(tag), "", None
    keyword = _keyword(tag)
    graphics = (group & 0xFF01) in (0x5000, 0x6000)
    return (keyword if keyword and not graphics else _tag(tag)), keyword, None


def _read(source: str | os.PathLike | Dataset) -> Dataset:
    if isinstance(source, Dataset):
        return source
    try:
        return dcmread(source, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise ReviewError(f"cannot read {source} as DICOM ({type(exc).__name__}: {exc}); "
                          "check the path or leave the file out of the review.") from exc

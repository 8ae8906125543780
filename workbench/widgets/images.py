"""Slices as pictures: frames in physical units, window/level, changed regions, PNG bytes.

Pure functions and small classes the viewers compose; tests call them without any widget.
A series that cannot be shown (a report, a PDF, no pixel data, a codec that is not
installed) raises :class:`Unviewable` with a reason a user can read.

Examples
--------
>>> import numpy as np
>>> before = np.zeros((64, 64)); after = before.copy(); after[8:16, 40:60] = 1
>>> changed_regions(before, after)
[(8, 40, 16, 60)]
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_rescale, pixel_array

from ..dicomio import PIXEL_TAGS
from ..errors import Unviewable
from ..pet import suv_bw_factor
from ..review import sop_class_name

#: Window presets as (centre, width) in the frame's unit.
CT_PRESETS = {"CT soft tissue": (40.0, 400.0), "CT lung": (-600.0, 1500.0),
              "CT bone": (400.0, 1800.0), "CT brain": (40.0, 80.0)}
PET_PRESETS = {"PET SUV 0-5": (2.5, 5.0), "PET SUV 0-10": (5.0, 10.0),
               "PET SUV 0-20": (10.0, 20.0)}
AUTO, FILE = "auto (1-99 %)", "from the file"
OUTLINE = (255, 40, 40)
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_DOCUMENTS = {"1.2.840.10008.5.1.4.1.1.104.1": "an encapsulated PDF document",
              "1.2.840.10008.5.1.4.1.1.104.2": "an encapsulated CDA document",
              "1.2.840.10008.5.1.4.1.1.104.3": "an encapsulated STL model"}
_NO_FILE = "no output file for this instance (not de-identified)"


@dataclass
class Frame:
    """One frame ready to window: values in ``unit`` (HU, SUV, Bq/ml, or "" for raw)."""

    values: np.ndarray  # 2-D float32, or H x W x 3 uint8 for colour images
    unit: str
    note: str = ""
    window: tuple[float, float] | None = None  # the file's own window, if any
    invert: bool = False  # MONOCHROME1: low values are shown bright
    instance: int | None = None  # InstanceNumber of the file
    position: float | None = None  # slice position (mm): ImagePositionPatient z, else
    #                                SliceLocation; per frame for multi-frame files

    @property
    def colour(self) -> bool:
        return self.values.ndim == 3


def unviewable_reason(ds: Dataset) -> str | None:
    """Why a dataset has nothing to show, from its header alone (None when it may have)."""
    sop = str(ds.get("SOPClassUID", ""))
    if sop.startswith(_SR_PREFIX) or str(ds.get("Modality", "")) == "SR":
        return f"a structured report ({sop_class_name(sop)}): coded text, no pixels to show"
    if sop in _DOCUMENTS:
        return f"{_DOCUMENTS[sop]}: no pixels to show; open the document itself"
    if not any(t in ds for t in PIXEL_TAGS):
        return f"no pixel data in this object ({sop_class_name(sop) or 'unknown SOP class'})"
    return None


class SeriesFrames:
    """The frames of one series, read lazily (headers first, pixels when a frame is asked).

    Parameters
    ----------
    files
        The series' files; ``None`` entries stand for instances without a file (e.g. an
        output that was not made) and show as such.
    sort
        Order files by InstanceNumber (then slice position); False keeps the given order
        (used to keep the before and after series aligned).
    missing
        Why each ``None`` entry has no file (aligned with ``files``), shown in its place.
    cache
        Frames kept in memory.
    """

    def __init__(self, files: Sequence[str | os.PathLike | None], *, sort: bool = True,
                 missing: Sequence[str | None] | None = None, cache: int = 8):
        self.files = [None if f is None else str(f) for f in files]
        why = list(missing) if missing is not None else [None] * len(self.files)
        self.headers = [(f"no output: {why[n]}" if why[n] else _NO_FILE) if f is None
                        else _header(f) for n, f in enumerate(self.files)]
        if sort:
            order = sorted(range(len(self.files)), key=lambda i: _sort_key(self.headers[i]))
            self.files = [self.files[i] for i in order]
            self.headers = [self.headers[i] for i in order]
        self.index: list[tuple[int, int]] = []  # frame -> (file, frame within the file)
        for n, h in enumerate(self.headers):
            count = _number(h, "NumberOfFrames", 1) if isinstance(h, Dataset) else 1
            self.index += [(n, k) for k in range(max(count, 1))]
        self._cache: OrderedDict[int, Frame | Unviewable] = OrderedDict()
        self._size = cache

    def __len__(self) -> int:
        return len(self.index)

    @property
    def modality(self) -> str:
        for h in self.headers:
            if isinstance(h, Dataset):
                return str(h.get("Modality", ""))
        return ""

    @property
    def problem(self) -> str | None:
        """Why no frame of this series can be shown, or None when some may be."""
        if not self.files:
            return "the series has no files"
        reasons = {self._header_problem(h) for h in self.headers}
        return None if None in reasons else sorted(reasons)[0]

    def _header_problem(self, h) -> str | None:
        if isinstance(h, str):
            return h
        return unviewable_reason(h)

    def frame(self, n: int) -> Frame:
        """Frame ``n`` in physical units; raises :class:`Unviewable` with the reason."""
        if not 0 <= n < len(self.index):
            raise Unviewable(f"no frame {n}: the series has {len(self.index)}")
        found = self._cache.get(n)
        if found is None:
            try:
                found = self._read(n)
            except Unviewable as exc:
                found = exc
            self._cache[n] = found
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(n)
        if isinstance(found, Unviewable):
            raise found
        return found

    def _read(self, n: int) -> Frame:
        file_no, k = self.index[n]
        problem = self._header_problem(self.headers[file_no])
        if problem:
            raise Unviewable(problem)
        path = self.files[file_no]
        try:
            ds = dcmread(path, force=True)
        except Exception as exc:
            raise Unviewable(f"cannot read {os.path.basename(path)}: "
                             f"{type(exc).__name__}: {exc}") from None
        return frame_of(ds, k)


def _header(path: str) -> Dataset | str:
    """The header, with an empty PixelData standing for pixel data left on disk; or why not."""
    try:
        with open(path, "rb") as fp:
            ds = dcmread(fp, stop_before_pixels=True, force=True)
            ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            if ts is not None and ts.is_deflated:  # the file position says nothing here
                return dcmread(path, force=True)
            here = fp.tell()
            fp.seek(0, os.SEEK_END)
            if fp.tell() > here and "PixelData" not in ds:
                ds.add_new(0x7FE00010, "OB", b"")
        return ds
    except Exception as exc:  # any parse failure is a reason to show, not a crash
        return f"cannot read {os.path.basename(path)}: {type(exc).__name__}: {exc}"


def _sort_key(h) -> tuple:
    if not isinstance(h, Dataset):
        return (1, 0, 0.0)
    try:
        position = h.get("ImagePositionPatient")
        z = float(position[2]) if position and len(position) == 3 else 0.0
    except (TypeError, ValueError):
        z = 0.0
    return (0, _number(h, "InstanceNumber", 0), z)


def _number(ds: Dataset, keyword: str, default: int | None) -> int | None:
    """An integer attribute, or ``default`` when absent or not a number (damaged headers)."""
    try:
        return int(ds.get(keyword) or default)
    except (TypeError, ValueError):
        return default


def frame_of(ds: Dataset, k: int = 0) -> Frame:
    """Frame ``k`` of a dataset in physical units (HU for CT, SUVbw for PET when possible).

    Raises
    ------
    Unviewable
        When the object has no pixels, or its pixel data cannot be decoded here.
    """
    problem = unviewable_reason(ds)
    if problem:
        raise Unviewable(problem)
    frames = _number(ds, "NumberOfFrames", 1)
    try:  # one frame decoded, colour converted to RGB
        pixels = pixel_array(ds, index=k if frames > 1 else None)
    except Exception as exc:  # decoders raise many types; each becomes a reason
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax = getattr(ts, "name", None) or str(ts or "unknown transfer syntax")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if ts is not None and ts.is_transfer_syntax and not ts.is_compressed:
            raise Unviewable(f"the pixel data cannot be read ({first}): the file looks "
                             "damaged; copy it again from the original media") from None
        raise Unviewable(f"cannot decode the pixel data ({syntax}): {first}. Install the "
                         "decoder pydicom names, or review this series elsewhere.") from None
    where = {"instance": _number(ds, "InstanceNumber", None), "position": slice_position(ds, k)}
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4) and _number(ds, "SamplesPerPixel", 1) > 1:
        return Frame(_to_uint8(pixels[..., :3]), "RGB", **where)
    if pixels.ndim != 2:
        raise Unviewable(f"unexpected pixel array of shape {pixels.shape} for one frame")
    try:
        values = apply_rescale(pixels, ds).astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise Unviewable(f"the rescale attributes cannot be used ({exc})") from None
    modality = str(ds.get("Modality", ""))
    unit, note = str(ds.get("RescaleType", "") or ""), ""
    if modality == "CT":
        unit = "HU"
    elif modality == "PT":
        try:
            values = values * np.float32(suv_bw_factor(ds))
            unit = "SUV"
        except ValueError as exc:
            unit = "Bq/ml" if str(ds.get("Units", "")) == "BQML" else str(ds.get("Units", ""))
            note = f"not in SUV: {exc}"
    return Frame(values, unit, note, _file_window(ds),
                 str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1", **where)


def slice_position(ds: Dataset, k: int = 0) -> float | None:
    """The position (mm) of frame ``k`` along the slice axis, or None when not known.

    ImagePositionPatient z (per frame in an enhanced multi-frame file; plus the grid
    frame offset of an RT dose), else SliceLocation.
    """
    def z(item) -> float | None:
        position = item.get("ImagePositionPatient") if item is not None else None
        try:
            return float(position[2]) if position is not None and len(position) == 3 else None
        except (TypeError, ValueError):
            return None

    try:
        groups = ds.get("PerFrameFunctionalGroupsSequence")
        if groups and k < len(groups):
            plane = groups[k].get("PlanePositionSequence")
            found = z(plane[0]) if plane else None
            if found is not None:
                return found
        found = z(ds)
        offsets = ds.get("GridFrameOffsetVector")
        if found is not None and offsets and k < len(offsets):
            return found + float(offsets[k])
        if found is not None:
            return found
        location = ds.get("SliceLocation")
        return float(location) if location not in (None, "") else None
    except (TypeError, ValueError, AttributeError):
        return None


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    top = float(pixels.max()) or 1.0
    return (pixels.astype(np.float32) * (255.0 / top)).astype(np.uint8)


def _file_window(ds: Dataset) -> tuple[float, float] | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre in (None, "") or width in (None, ""):
        return None
    first = lambda v: float(v[0] if isinstance(v, (list, MultiValue)) else v)  # noqa: E731
    try:
        return first(centre), max(first(width), 1.0)
    except (TypeError, ValueError):
        return None


def presets_for(modality: str, suv: bool = True) -> list[str]:
    """The window presets offered for a modality (SUV presets only when in SUV)."""
    names = [AUTO, FILE]
    if modality == "CT":
        names = [*CT_PRESETS, *names]
    elif modality == "PT" and suv:
        names = [*PET_PRESETS, *names]
    return names


def default_preset(modality: str, suv: bool) -> str:
    """The preset a series opens with: CT soft tissue, PET SUV 0-10, else the file's window."""
    if modality == "CT":
        return "CT soft tissue"
    if modality == "PT" and suv:
        return "PET SUV 0-10"
    return FILE


def window_for(frame: Frame, preset: str) -> tuple[float, float]:
    """(centre, width) of ``preset`` for ``frame``; falls back to auto where it cannot apply."""
    if preset in CT_PRESETS and frame.unit == "HU":
        return CT_PRESETS[preset]
    if preset in PET_PRESETS and frame.unit == "SUV":
        return PET_PRESETS[preset]
    if preset == FILE and frame.window:
        return frame.window
    values = frame.values[np.isfinite(frame.values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [1, 99])
    if high <= low:
        low, high = float(values.min()), float(values.max())
    return (float(low) + float(high)) / 2, max(float(high) - float(low), 1e-6)


def to_grey(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Window/level: values to 8-bit grey (linear, clipped)."""
    low = centre - width / 2
    scaled = (values - low) * (255.0 / width)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def changed_regions(before: np.ndarray, after: np.ndarray,
                    block: int = 8) -> list[tuple[int, int, int, int]]:
    """Boxes ``(top, left, bottom, right)`` around the pixels that differ.

    Differences are gathered on a grid of ``block`` pixels and neighbouring blocks are
    joined, so a blanked text box gives one outline, not hundreds. Frames of different
    shapes are one changed region.
    """
    if before.shape != after.shape:
        return [(0, 0, after.shape[0], after.shape[1])]
    diff = before != after
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    if not diff.any():
        return []
    rows, cols = diff.shape
    gr, gc = -(-rows // block), -(-cols // block)
    padded = np.zeros((gr * block, gc * block), dtype=bool)
    padded[:rows, :cols] = diff
    grid = padded.reshape(gr, block, gc, block).any(axis=(1, 3))
    seen = np.zeros_like(grid)
    boxes = []
    for r0, c0 in zip(*np.nonzero(grid)):
        if seen[r0, c0]:
            continue
        stack, cells = [(r0, c0)], []
        seen[r0, c0] = True
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
                nr, nc = r + dr, c + dc
                if 0 <= nr < gr and 0 <= nc < gc and grid[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        rs, cs = [r for r, _ in cells], [c for _, c in cells]
        sub = diff[min(rs) * block:(max(rs) + 1) * block, min(cs) * block:(max(cs) + 1) * block]
        hit_r, hit_c = np.nonzero(sub)
        top, left = int(min(rs)) * block, int(min(cs)) * block
        boxes.append((top + int(hit_r.min()), left + int(hit_c.min()),
                      top + int(hit_r.max()) + 1, left + int(hit_c.max()) + 1))
    return sorted(boxes)


def picture(frame: Frame, preset: str = AUTO, boxes: Sequence[tuple[int, int, int, int]] = (),
            size: int | None = None) -> Image.Image:
    """An RGB picture of ``frame`` under ``preset``, changed regions outlined in red.

    Scaled to ``size`` (longest side): enlarged with nearest neighbour, so every pixel of a
    small matrix stays a sharp square; reduced with bilinear filtering. Outlines are drawn
    after scaling, at the scaled place, two pixels wide.
    """
    if frame.values.size == 0 or min(frame.values.shape[:2]) == 0:
        raise Unviewable(f"the frame is empty (matrix {' x '.join(map(str, frame.values.shape))})")
    if frame.colour:
        image = Image.fromarray(frame.values, "RGB")
    else:
        grey = to_grey(frame.values, *window_for(frame, preset))
        image = Image.fromarray(255 - grey if frame.invert else grey, "L")
        image = image.convert("RGB")
    sx = sy = 1.0
    if size and max(image.size) != size:
        scale = size / max(image.size)
        width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        sx, sy = width / image.width, height / image.height
        image = image.resize((width, height), Image.Resampling.NEAREST if scale > 1
                             else Image.Resampling.BILINEAR)
    if boxes:
        draw = ImageDraw.Draw(image)
        for top, left, bottom, right in boxes:
            draw.rectangle([round(left * sx) - 1, round(top * sy) - 1, round(right * sx),
                            round(bottom * sy)], outline=OUTLINE, width=2)
    return image


def png(image: Image.Image) -> bytes:
    """PNG bytes of a picture (what an ``ipywidgets.Image`` shows)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def message_png(text: str, size: int = 256) -> bytes:
    """A grey square with ``text``, for tiles that cannot show an image."""
    image = Image.new("RGB", (size, size), (60, 60, 60))
    draw = ImageDraw.Draw(image)
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > size // 7:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for n, text_line in enumerate(lines[: size // 14]):
        draw.text((6, 6 + 14 * n), text_line, fill=(230, 230, 230))
    return png(image)

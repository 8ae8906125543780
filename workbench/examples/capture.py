"""Screen capture: a PET MIP with the patient's name, ID and birth date burned in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import SecondaryCaptureImageStorage

from .common import CT_FOV_MM, _PHILIPS, _da
from .people import _Person, _Study
from .writer import _Writer, _base, _series

SC_SIZE = 512


def _write_capture(
    w: _Writer, p: _Person, study: _Study, pet: dict[str, Any], suv: np.ndarray
) -> dict[str, Any]:
    """Secondary capture of the PET MIP with the name burned into the pixels."""
    when = study.start + timedelta(hours=2)
    sc = _series(
        w, p, study, "SC", 90, SecondaryCaptureImageStorage, "PET MIP screen capture", when,
        _PHILIPS, modality="PT",
    )
    image = Image.new("RGB", (SC_SIZE, SC_SIZE), (0, 0, 0))
    mip = np.clip(suv.max(axis=1) / 6.0, 0.0, 1.0)
    height = max(32, round(SC_SIZE * suv.shape[0] * pet["thickness"] / CT_FOV_MM))
    picture = Image.fromarray((255 * (1.0 - mip)).astype(np.uint8), "L").resize(
        (SC_SIZE, height), Image.Resampling.BILINEAR
    )
    image.paste(picture.convert("RGB"), (0, 160))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    draw.text((14, 14), p.burned_name, font=font, fill=(255, 255, 0))
    draw.text((14, 56), f"ID {p.patient_id}  DOB {_da(p.birth)}", font=font, fill=(255, 255, 0))
    draw.text((14, 98), "FDG PET MIP", font=font, fill=(255, 255, 255))
    ds = _base(p, study, sc, w.uid(p.index, "sc"), 1, when)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = ds.Columns = SC_SIZE
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.asarray(image, dtype=np.uint8).tobytes()
    w.add(sc, ds, "IM000001.dcm")
    return sc

"""Image series: CT with a burned-in overlay, PET in Bq/ml with SUV factors, follow-up MR."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits
from pydicom.uid import CTImageStorage, MRImageStorage, PositronEmissionTomographyImageStorage

from workbench.pet import PHILIPS_PET_CREATOR, suv_bw_factor

from .common import (
    CT_FOV_MM,
    _GE,
    _PHILIPS,
    _SIEMENS,
    _code,
    _da,
    _ds,
    _dt,
    _item,
    _tm,
)
from .people import _Person, _Study
from .phantom import _CT_HU, _MR_SIGNAL, _PET_SUV, _grid, _labels
from .writer import _Writer, _base, _series

SIEMENS_CREATOR = "SIEMENS MEDCOM HEADER"
GE_CREATOR = "GEMS_IDEN_01"
PHILIPS_CREATOR = "Philips Imaging DD 001"
SIEMENS_NAME_ELEMENT = 0x60
"""(0029,xx60) under SIEMENS MEDCOM HEADER holds the patient name (LO), on CT."""
GE_ID_ELEMENT = 0x10
"""(0009,xx10) under GEMS_IDEN_01 holds the patient ID (LO), on MR."""
PHILIPS_NAME_ELEMENT = 0x9C
"""(2001,xx9C) under Philips Imaging DD 001 holds the patient name (LO), on PET."""

PET_SLICES = 20
PET_SIZE = 128
MR_SLICES = 20
MR_SIZE = 256
CT_THICKNESS_MM = 3.0
MR_FOV_MM = 400.0
MR_THICKNESS_MM = 6.0
HALF_LIFE_F18_S = 6586.2


def _text_mask(text: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """Render one line of ASCII text at the top left with Pillow's default font.

    Parameters
    ----------
    text : str
        The text.
    shape : tuple of int
        (rows, columns) of the mask.
    size : int
        Font size in pixels.

    Returns
    -------
    numpy.ndarray
        Boolean array of ``shape``, True on glyph pixels.
    """
    image = Image.new("1", (shape[1], shape[0]), 0)
    margin = max(2, size // 2)
    ImageDraw.Draw(image).text(
        (margin, margin), text, font=ImageFont.load_default(size=size), fill=1
    )
    return np.array(image, dtype=bool)


def _overlay_size(rows: int) -> int:
    """Font size of the overlay text on a CT slice with ``rows`` rows."""
    return max(8, rows // 24)


def _image(
    ds: Dataset,
    pixels: np.ndarray,
    spacing: float,
    thickness: float,
    z: float,
    frame_of_reference: str,
) -> None:
    """Add acquisition, plane and pixel attributes of an axial slice centred on the isocentre."""
    origin = -spacing * pixels.shape[1] / 2.0 + spacing / 2.0
    ds.AcquisitionDate = ds.SeriesDate
    ds.AcquisitionTime = ds.SeriesTime
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [_ds(origin), _ds(origin), _ds(z)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = _ds(z)
    ds.SliceThickness = _ds(thickness)
    ds.PixelSpacing = [_ds(spacing), _ds(spacing)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(pixels.dtype == np.int16)
    ds.PixelData = pixels.tobytes()


def _write_ct(
    w: _Writer, p: _Person, study: _Study, slices: int, size: int, rng: np.random.Generator
) -> dict[str, Any]:
    """CT series of the body phantom; IM000001 carries the name as an overlay."""
    series = _series(w, p, study, "CT", 2, CTImageStorage, "CT WB 3.0 Br38", study.start, _SIEMENS)
    series["frame"] = w.uid(p.index, "PETCT", "frame-of-reference")
    series["extent"] = max((slices - 1) * CT_THICKNESS_MM, 1.0)
    series["tumour_z"] = -round(0.4 * (slices - 1)) * CT_THICKNESS_MM
    series["z"] = [-i * CT_THICKNESS_MM for i in range(slices)]
    coords, spacing = _grid(size, CT_FOV_MM)
    for i, z in enumerate(series["z"]):
        labels = _labels(coords[None, :], coords[:, None], z, series["extent"], series["tumour_z"])
        hu = _CT_HU[labels] + np.where(labels > 0, rng.normal(0.0, 10.0, labels.shape), 0.0)
        stored = np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.int16)
        ds = _base(p, study, series, w.uid(p.index, "ct", i), i + 1, study.start)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = "120"
        ds.ConvolutionKernel = "Br38"
        ds.ImageComments = f"{p.given} {p.surname} WB staging"
        _image(ds, stored, spacing, CT_THICKNESS_MM, z, series["frame"])
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        siemens = ds.private_block(0x0029, SIEMENS_CREATOR, create=True)
        siemens.add_new(0x08, "CS", "IMAGE NUM 4")
        siemens.add_new(SIEMENS_NAME_ELEMENT, "LO", p.name)
        if i == 0:
            mask = _text_mask(p.burned_name, (size, size), _overlay_size(size))
            ds.add_new(0x60000010, "US", size)
            ds.add_new(0x60000011, "US", size)
            ds.add_new(0x60000022, "LO", f"{p.given} {p.surname}")
            ds.add_new(0x60000040, "CS", "G")
            ds.add_new(0x60000050, "SS", [1, 1])
            ds.add_new(0x60000100, "US", 1)
            ds.add_new(0x60000102, "US", 0)
            ds.add_new(0x60003000, "OW", pack_bits(mask.astype(np.uint8).ravel()))
        w.add(series, ds, f"IM{i + 1:06d}.dcm")
    return series


def _pet_module(ds: Dataset, p: _Person) -> Dataset:
    """Add the PET series, isotope and patient-weight attributes SUV needs; return ``ds``."""
    ds.PatientWeight = _ds(p.weight_kg)
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    ds.Units = "BQML"
    ds.CountsSource = "EMISSION"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
    ds.RadiopharmaceuticalInformationSequence = [
        _item(
            Radiopharmaceutical="Fluorodeoxyglucose",
            RadiopharmaceuticalStartTime=_tm(p.injection),
            RadiopharmaceuticalStartDateTime=_dt(p.injection),
            RadionuclideTotalDose=_ds(p.dose_bq),
            RadionuclideHalfLife=_ds(HALF_LIFE_F18_S),
            RadionuclidePositronFraction="0.9673",
            RadionuclideCodeSequence=[_code("C-111A1", "SRT", "^18^Fluorine")],
            RadiopharmaceuticalCodeSequence=[
                _code("C-B1031", "SRT", "Fluorodeoxyglucose F^18^")
            ],
        )
    ]
    return ds


def _write_pet(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any], rng: np.random.Generator
) -> tuple[dict[str, Any], np.ndarray]:
    """PET series in Bq/ml with per-slice slopes and Philips SUV factors; also returns SUV."""
    series = _series(
        w, p, study, "PT", 3, PositronEmissionTomographyImageStorage, "PET WB AC", p.pet_start,
        _PHILIPS,
    )
    header = _item(SeriesDate=_da(p.pet_start), SeriesTime=_tm(p.pet_start))
    factor = suv_bw_factor(_pet_module(header, p))
    series["suv_bw_factor"] = factor
    series["thickness"] = len(ct["z"]) * CT_THICKNESS_MM / PET_SLICES
    coords, spacing = _grid(PET_SIZE, CT_FOV_MM)
    suv = np.zeros((PET_SLICES, PET_SIZE, PET_SIZE), dtype=np.float32)
    for j in range(PET_SLICES):
        z = -j * series["thickness"]
        labels = _labels(coords[None, :], coords[:, None], z, ct["extent"], ct["tumour_z"])
        suv[j] = _PET_SUV[labels] * np.clip(rng.normal(1.0, 0.08, labels.shape), 0.0, None)
        activity = suv[j] / factor
        peak = float(activity.max())
        slope = _ds(peak / 32767.0) if peak > 0 else "1"
        stored = np.clip(np.rint(activity / float(slope)), 0, 65535).astype(np.uint16)
        ds = _pet_module(_base(p, study, series, w.uid(p.index, "pt", j), j + 1, p.pet_start), p)
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.ReconstructionMethod = "OSEM 3i15s"
        ds.NumberOfSlices = PET_SLICES
        ds.ImageIndex = j + 1
        ds.FrameReferenceTime = "0"
        ds.ActualFrameDuration = 120000
        _image(ds, stored, spacing, series["thickness"], z, ct["frame"])
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = slope
        philips = ds.private_block(0x2001, PHILIPS_CREATOR, create=True)
        philips.add_new(PHILIPS_NAME_ELEMENT, "LO", p.name)
        pet = ds.private_block(0x7053, PHILIPS_PET_CREATOR, create=True)
        pet.add_new(0x00, "DS", _ds(factor))
        pet.add_new(0x09, "DS", "1")
        w.add(series, ds, f"IM{j + 1:06d}.dcm")
    return series, suv


def _write_mr(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any], rng: np.random.Generator
) -> dict[str, Any]:
    """Follow-up MR series; its SeriesDescription carries the patient ID."""
    description = f"AX T2 {p.patient_id}"
    series = _series(w, p, study, "MR", 1, MRImageStorage, description, study.start, _GE)
    frame = w.uid(p.index, "MR", "frame-of-reference")
    coords, spacing = _grid(MR_SIZE, MR_FOV_MM)
    for j in range(MR_SLICES):
        z = -j * MR_THICKNESS_MM
        labels = _labels(coords[None, :], coords[:, None], z, ct["extent"], ct["tumour_z"])
        signal = _MR_SIGNAL[labels] + np.abs(rng.normal(0.0, 15.0, labels.shape))
        stored = np.clip(np.rint(signal), 0, 4095).astype(np.uint16)
        ds = _base(p, study, series, w.uid(p.index, "mr", j), j + 1, study.start)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = "4000"
        ds.EchoTime = "90"
        ds.EchoTrainLength = 16
        ds.MagneticFieldStrength = "3"
        _image(ds, stored, spacing, MR_THICKNESS_MM, z, frame)
        ge = ds.private_block(0x0009, GE_CREATOR, create=True)
        ge.add_new(0x01, "LO", "GE_GENESIS_FF")
        ge.add_new(GE_ID_ELEMENT, "LO", p.patient_id)
        w.add(series, ds, f"IM{j + 1:06d}.dcm")
    return series

"""Helpers of the widget tests: crafted files and how a widget's picture decodes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid



def decode(png: bytes) -> Image.Image:
    """The picture an ``ipywidgets.Image`` shows."""
    return Image.open(io.BytesIO(png)).convert("RGB")


def ct_file(path, pixels: np.ndarray, *, syntax=ExplicitVRLittleEndian, frames: int = 1,
            photometric: str = "MONOCHROME2") -> str:
    """Write a small CT (``pixels``: rows x cols, or frames x rows x cols) and return its path."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID, ds.InstanceNumber = "CT", "P1", 1
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
    if frames > 1:
        ds.NumberOfFrames = frames
    if syntax.is_compressed:
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51 not really a codestream"] * frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(path)


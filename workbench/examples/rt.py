"""RT objects on the CT: RTSTRUCT, an RTPLAN referencing it and an RTDOSE referencing the plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, RTDoseStorage, RTPlanStorage, RTStructureSetStorage

from .common import _DETACHED_STUDY_SOP, _VARIAN, _da, _ds, _item, _tm
from .people import _Person, _Study
from .phantom import _TUMOUR_CENTRE, _TUMOUR_RADIUS, _lung_scale
from .writer import _Writer, _base, _series


def _ellipse(cx: float, cy: float, ax: float, ay: float, z: float, n: int = 24) -> list[str]:
    """ContourData (DS strings) of an axial ellipse."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    points = np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t), np.full(n, z)], axis=1)
    return [f"{v:.2f}" for v in points.ravel()]


def _write_rt(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """RTSTRUCT on the CT, RTPLAN on the RTSTRUCT, RTDOSE on the RTPLAN."""
    when = study.start + timedelta(hours=5)
    tx, ty = _TUMOUR_CENTRE
    tumour_z = ct["tumour_z"]

    def image_ref(i: int) -> Dataset:
        uid = ct["sop_uids"][i]
        return _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid)

    rois = {
        "GTV": ("GTV", [255, 0, 0]),
        "PTV": ("PTV", [255, 128, 0]),
        "Lung_L": ("ORGAN", [0, 128, 255]),
        "Lung_R": ("ORGAN", [0, 200, 255]),
        "SpinalCord": ("ORGAN", [255, 255, 0]),
    }
    contours: dict[str, list[tuple[int, list[str]]]] = {name: [] for name in rois}
    for i, z in enumerate(ct["z"]):
        scale = _lung_scale(z, ct["extent"])
        shapes = {
            "Lung_L": (75.0, -5.0, 55.0 * scale, 75.0 * scale),
            "Lung_R": (-75.0, -5.0, 55.0 * scale, 75.0 * scale),
            "SpinalCord": (0.0, 80.0, 7.0, 7.0),
        }
        for name, radius in (("GTV", _TUMOUR_RADIUS), ("PTV", _TUMOUR_RADIUS + 5.0)):
            if abs(z - tumour_z) < radius:
                r = float(np.sqrt(radius**2 - (z - tumour_z) ** 2))
                shapes[name] = (tx, ty, r, r)
        for name, (cx, cy, ax, ay) in shapes.items():
            contours[name].append((i, _ellipse(cx, cy, ax, ay, z)))

    struct = _series(
        w, p, study, "RTSTRUCT", 4, RTStructureSetStorage, "RT structures", when, _VARIAN
    )
    ds = _base(p, study, struct, w.uid(p.index, "rtstruct"), 1, when)
    ds.StructureSetLabel = "PETCT_RT"
    ds.StructureSetDate = _da(when)
    ds.StructureSetTime = _tm(when)
    ds.FrameOfReferenceUID = ct["frame"]
    ds.ReferencedFrameOfReferenceSequence = [
        _item(
            FrameOfReferenceUID=ct["frame"],
            RTReferencedStudySequence=[
                _item(
                    ReferencedSOPClassUID=_DETACHED_STUDY_SOP,
                    ReferencedSOPInstanceUID=study.uid,
                    RTReferencedSeriesSequence=[
                        _item(
                            SeriesInstanceUID=ct["uid"],
                            ContourImageSequence=[image_ref(i) for i in range(len(ct["z"]))],
                        )
                    ],
                )
            ],
        )
    ]
    ds.StructureSetROISequence = [
        _item(
            ROINumber=n,
            ReferencedFrameOfReferenceUID=ct["frame"],
            ROIName=name,
            ROIGenerationAlgorithm="MANUAL",
        )
        for n, name in enumerate(rois, start=1)
    ]
    ds.ROIContourSequence = [
        _item(
            ReferencedROINumber=n,
            ROIDisplayColor=color,
            ContourSequence=[
                _item(
                    ContourImageSequence=[image_ref(i)],
                    ContourGeometricType="CLOSED_PLANAR",
                    NumberOfContourPoints=len(points) // 3,
                    ContourNumber=k,
                    ContourData=points,
                )
                for k, (i, points) in enumerate(contours[name], start=1)
            ],
        )
        for n, (name, (_, color)) in enumerate(rois.items(), start=1)
    ]
    ds.RTROIObservationsSequence = [
        _item(
            ObservationNumber=n,
            ReferencedROINumber=n,
            RTROIInterpretedType=kind,
            ROIInterpreter="",
        )
        for n, (kind, _) in enumerate(rois.values(), start=1)
    ]
    ds.ApprovalStatus = "UNAPPROVED"
    w.add(struct, ds, "IM000001.dcm")

    plan = _series(w, p, study, "RTPLAN", 5, RTPlanStorage, "RT plan", when, _VARIAN)
    ds = _base(p, study, plan, w.uid(p.index, "rtplan"), 1, when)
    ds.FrameOfReferenceUID = ct["frame"]
    ds.RTPlanLabel = "LUNG_R 60Gy"
    ds.RTPlanName = "Lung R radical"
    ds.RTPlanDate = _da(when)
    ds.RTPlanTime = _tm(when)
    ds.RTPlanGeometry = "PATIENT"
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = _da(when)
    ds.ReviewTime = _tm(when)
    ds.ReviewerName = p.staff[3]
    ds.ReferencedStructureSetSequence = [
        _item(
            ReferencedSOPClassUID=RTStructureSetStorage,
            ReferencedSOPInstanceUID=struct["sop_uids"][0],
        )
    ]
    ds.FractionGroupSequence = [
        _item(
            FractionGroupNumber=1,
            NumberOfFractionsPlanned=30,
            NumberOfBeams=0,
            NumberOfBrachyApplicationSetups=0,
        )
    ]
    w.add(plan, ds, "IM000001.dcm")

    dose = _series(w, p, study, "RTDOSE", 6, RTDoseStorage, "RT dose", when, _VARIAN)
    ds = _base(p, study, dose, w.uid(p.index, "rtdose"), 1, when)
    n, frames, step = 32, 8, 5.0
    axis = (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * step
    offsets = -np.arange(frames, dtype=np.float32) * step
    z0 = tumour_z + (frames - 1) * step / 2.0
    dz = (z0 + offsets - tumour_z)[:, None, None]
    r2 = axis[None, None, :] ** 2 + axis[None, :, None] ** 2 + dz**2
    scaling = _ds(60.0 / 65535.0)
    stored = np.rint(60.0 * np.exp(-r2 / (2 * 20.0**2)) / float(scaling))
    ds.FrameOfReferenceUID = ct["frame"]
    ds.ImagePositionPatient = [_ds(tx + float(axis[0])), _ds(ty + float(axis[0])), _ds(z0)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [_ds(step), _ds(step)]
    ds.SliceThickness = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x3004000C
    ds.Rows = ds.Columns = n
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.GridFrameOffsetVector = [_ds(float(v)) for v in offsets]
    ds.DoseGridScaling = scaling
    ds.ReferencedRTPlanSequence = [
        _item(ReferencedSOPClassUID=RTPlanStorage, ReferencedSOPInstanceUID=plan["sop_uids"][0])
    ]
    ds.PixelData = np.clip(stored, 0, 65535).astype(np.uint16).tobytes()
    w.add(dose, ds, "IM000001.dcm")
    return struct, plan, dose

"""Deterministic synthetic trial delivery with planted fake identifiers.

:func:`generate` writes a DICOM tree laid out as a hospital would send it
(PET-CT with RT objects, a screen capture, a PDF report and an SR, plus a
follow-up MR), the subject and imaging-event lookup tables a trial would
supply, and ``planted.json``: every fake identifier and where it was hidden,
so that de-identification can be checked against ground truth.

Layout under ``out``::

    delivery/<SURNAME>_<GIVEN>_<PatientID>/
        <YYYYMMDD>_PETCT/CT_2/IM000001.dcm ...   CT (overlay on IM000001)
                         PT_3/                   PET, Bq/ml, Philips SUV factors
                         RTSTRUCT_4/ RTPLAN_5/ RTDOSE_6/
                         SC_90/                  PET MIP screen capture, burned-in name
                         DOC_91/REPORT_<SURNAME>.dcm   encapsulated PDF
                         SR_92/                  Comprehensive SR
        <YYYYMMDD>_MR/MR_1/                      follow-up MR, 90 days later
    subjects.csv   PatientID,subject_id,site_id
    events.csv     AccessionNumber,image_event_id,PatientID
    planted.json   the :class:`Planted` record

All names, numbers and addresses are invented. The same arguments always
give byte-identical files.

The package holds one module per part: ``generator`` (:func:`generate` and
:class:`Planted`), ``people`` (sites and patients), ``writer`` (file writing
and the attributes every object shares), ``phantom`` (the body phantom),
``series`` (CT, PET, MR), ``rt`` (RTSTRUCT, RTPLAN, RTDOSE), ``capture``
(screen capture), ``reports`` (PDF, SR), ``dicomdir`` and ``bad_files``, all
built on ``common``.
"""

from .capture import SC_SIZE
from .common import CT_FOV_MM
from .generator import Planted, generate
from .series import (
    CT_THICKNESS_MM,
    GE_CREATOR,
    GE_ID_ELEMENT,
    HALF_LIFE_F18_S,
    MR_FOV_MM,
    MR_SIZE,
    MR_SLICES,
    MR_THICKNESS_MM,
    PET_SIZE,
    PET_SLICES,
    PHILIPS_CREATOR,
    PHILIPS_NAME_ELEMENT,
    SIEMENS_CREATOR,
    SIEMENS_NAME_ELEMENT,
    _overlay_size,
    _text_mask,
)

__all__ = [
    "CT_FOV_MM",
    "CT_THICKNESS_MM",
    "GE_CREATOR",
    "GE_ID_ELEMENT",
    "HALF_LIFE_F18_S",
    "MR_FOV_MM",
    "MR_SIZE",
    "MR_SLICES",
    "MR_THICKNESS_MM",
    "PET_SIZE",
    "PET_SLICES",
    "PHILIPS_CREATOR",
    "PHILIPS_NAME_ELEMENT",
    "Planted",
    "SC_SIZE",
    "SIEMENS_CREATOR",
    "SIEMENS_NAME_ELEMENT",
    "_overlay_size",
    "_text_mask",
    "generate",
]

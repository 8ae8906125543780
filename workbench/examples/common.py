"""Low-level helpers and constants shared by every part of the example generator.

DICOM value formatting (DS, DA, TM, DT), sequence items and codes, seeded
UIDs, the CT field of view and the fictional equipment of the sites.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydicom.dataset import Dataset

CT_FOV_MM = 500.0

_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "workbench.examples")
_DETACHED_PATIENT_SOP = "1.2.840.10008.3.1.2.1.1"
_DETACHED_STUDY_SOP = "1.2.840.10008.3.1.2.3.1"

_SIEMENS = ("SIEMENS", "Biograph Vision 600", "VG80B")
_PHILIPS = ("Philips Medical Systems", "Vereos PET/CT", "3.5.1")
_GE = ("GE MEDICAL SYSTEMS", "SIGNA Premier", "RX29.1")
_VARIAN = ("Varian Medical Systems", "Eclipse", "16.1")
_RIS = ("Agfa", "Enterprise Imaging", "8.2")


def _uid(seed: int, *parts: object) -> str:
    """A UID derived from ``seed`` and ``parts``: ``2.25.`` plus a name-based UUID."""
    name = "/".join(map(str, (seed, *parts)))
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


def _ds(value: float) -> str:
    """Format a float as a DICOM DS string of at most 16 characters."""
    for digits in range(12, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot format {value!r} as DS")


def _da(day: date) -> str:
    return day.strftime("%Y%m%d")


def _tm(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _dt(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _item(**attributes: Any) -> Dataset:
    """A dataset (sequence item) with the given keyword attributes."""
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _components(pn: str) -> list[str]:
    """Name components of 3+ characters, as they would be searched for in text."""
    return [c for c in pn.split("^") if len(c) >= 3]

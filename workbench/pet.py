"""Body-weight SUV scaling for PET images.

The factor returned by :func:`suv_bw_factor` multiplies rescaled pixel values
(Bq/ml) to give SUVbw (g/ml): patient weight in grams divided by the injected
activity decayed to the time the image values are referenced to.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from pydicom.dataset import Dataset
from pydicom.valuerep import DT, TM

PHILIPS_PET_CREATOR = "Philips PET Private Group"
"""Private creator of the Philips PET block holding SUV and activity factors."""

_REQUIRED = {
    "weight_kg": "PatientWeight",
    "total_dose_bq": "RadiopharmaceuticalInformationSequence/RadionuclideTotalDose",
    "half_life_s": "RadiopharmaceuticalInformationSequence/RadionuclideHalfLife",
    "injection_datetime": (
        "RadiopharmaceuticalInformationSequence/RadiopharmaceuticalStartDateTime "
        "or RadiopharmaceuticalStartTime"
    ),
    "units": "Units",
    "decay_correction": "DecayCorrection",
}


def _combine(date: Any, time: Any) -> datetime | None:
    """Join a DA and a TM value into a datetime, or None when the time is absent."""
    if not time:
        return None
    t = TM(str(time))
    if not date:
        return datetime.combine(datetime(1900, 1, 1), t)
    d = str(date)
    return datetime.combine(datetime(int(d[:4]), int(d[4:6]), int(d[6:8])), t)


def _float(value: Any) -> float | None:
    """A numeric DICOM value as float, or None when empty."""
    if value is None or value == "":
        return None
    return float(value)


def suv_inputs(ds: Dataset) -> dict[str, Any]:
    """Collect the inputs of the SUVbw calculation from a PET header.

    Parameters
    ----------
    ds : Dataset
        A PET image dataset.

    Returns
    -------
    dict
        ``weight_kg``, ``total_dose_bq``, ``half_life_s`` (float),
        ``injection_datetime`` and ``reference_datetime`` (datetime; the
        reference is SeriesTime, else AcquisitionTime, on SeriesDate, else
        AcquisitionDate; the injection is RadiopharmaceuticalStartTime on the
        reference day, moved back a day when it would follow the reference,
        else RadiopharmaceuticalStartDateTime), ``units``, ``decay_correction``
        (str) and ``philips_suv_factor`` (float from (7053,xx00) of the
        Philips PET Private Group). Missing inputs are None.
    """
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    rp = seq[0] if seq else Dataset()
    start = rp.get("RadiopharmaceuticalStartDateTime")
    start_dt = DT(str(start)) if start else None
    day = ds.get("SeriesDate") or ds.get("AcquisitionDate")
    if not day and start_dt:
        day = start_dt.strftime("%Y%m%d")
    reference = _combine(day, ds.get("SeriesTime") or ds.get("AcquisitionTime"))
    injection = _combine(day, rp.get("RadiopharmaceuticalStartTime"))
    if injection is None and start_dt:
        injection = datetime.combine(start_dt.date(), start_dt.time())
    elif injection and reference and injection > reference:
        injection -= timedelta(days=1)
    philips = None
    try:
        block = ds.private_block(0x7053, PHILIPS_PET_CREATOR)
        if 0x00 in block:
            philips = _float(block[0x00].value)
    except KeyError:
        pass
    return {
        "weight_kg": _float(ds.get("PatientWeight")),
        "total_dose_bq": _float(rp.get("RadionuclideTotalDose")),
        "half_life_s": _float(rp.get("RadionuclideHalfLife")),
        "injection_datetime": injection,
        "reference_datetime": reference,
        "units": ds.get("Units") or None,
        "decay_correction": ds.get("DecayCorrection") or None,
        "philips_suv_factor": philips,
    }


def suv_bw_factor(ds: Dataset) -> float:
    """Body-weight SUV scale factor of a PET image.

    Parameters
    ----------
    ds : Dataset
        A PET image dataset with Units BQML and DecayCorrection START
        (activity decay-corrected to the series start) or ADMIN (to the
        injection time).

    Returns
    -------
    float
        Factor in g/ml per Bq/ml: ``SUVbw = (stored * slope + intercept) * factor``.

    Raises
    ------
    ValueError
        If an input is missing or not positive (the message names the
        attribute), or Units / DecayCorrection are not supported.
    """
    inputs = suv_inputs(ds)
    for key, attribute in _REQUIRED.items():
        if inputs[key] is None:
            raise ValueError(f"cannot compute SUVbw: {attribute} is missing")
    for key in ("weight_kg", "total_dose_bq", "half_life_s"):
        if inputs[key] <= 0:
            raise ValueError(f"cannot compute SUVbw: {_REQUIRED[key]} must be positive")
    if inputs["units"] != "BQML":
        raise ValueError(f"cannot compute SUVbw: Units {inputs['units']!r} is not BQML")
    decay = inputs["decay_correction"]
    if decay == "ADMIN":
        elapsed = 0.0
    elif decay == "START":
        if inputs["reference_datetime"] is None:
            raise ValueError("cannot compute SUVbw: SeriesTime (or AcquisitionTime) is missing")
        delta = inputs["reference_datetime"] - inputs["injection_datetime"]
        elapsed = delta.total_seconds()
        if elapsed < 0:
            raise ValueError("cannot compute SUVbw: injection is after the series start")
    else:
        raise ValueError(f"cannot compute SUVbw: DecayCorrection {decay!r} is not START or ADMIN")
    dose = inputs["total_dose_bq"] * math.exp(-math.log(2) * elapsed / inputs["half_life_s"])
    return inputs["weight_kg"] * 1000.0 / dose

"""Which objects need a person to look at their pixels before release."""

from __future__ import annotations

from pydicom.dataset import Dataset

from ..dicomio import get_value

#: SOP class UID prefixes whose pixels often carry burned-in text or faces.
REVIEW_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "secondary capture",
    "1.2.840.10008.5.1.4.1.1.6.": "ultrasound",
    "1.2.840.10008.5.1.4.1.1.3.1": "ultrasound multi-frame",
    "1.2.840.10008.5.1.4.1.1.77.1": "visible light photograph or video",
}
REVIEW_MODALITIES = {"OT": "other modality", "US": "ultrasound", "XC": "external camera"}


def pixel_review_reason(ds: Dataset, has_pixels: bool = False) -> str | None:
    """Why this object's pixels need review, or None when they need none.

    Objects without pixel data never need it (``has_pixels`` says the pixel
    data was left on disk rather than read into ``ds``). With pixel data: a
    BurnedInAnnotation of YES, or a secondary-capture, ultrasound,
    photographic or other-modality class, since the profile has no pixel rule.
    """
    if not has_pixels and not any(
            kw in ds for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return None
    if str(get_value(ds, "BurnedInAnnotation", "")).upper() == "YES":
        return "BurnedInAnnotation is YES"
    sop = str(get_value(ds, "SOPClassUID", ""))
    for prefix, what in REVIEW_CLASSES.items():
        if sop.startswith(prefix):
            return f"{what} object (SOP class {sop}) may hold burned-in text"
    modality = str(get_value(ds, "Modality", "")).upper()
    if modality in REVIEW_MODALITIES:
        return f"{REVIEW_MODALITIES[modality]} (Modality {modality}) may hold burned-in text"
    return None

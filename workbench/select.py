"""Which series a trial wants: the profile's ``select:`` block."""

from __future__ import annotations

import re

import pydicom.uid

from .catalog import Instance
from .errors import ProfileError


def _uid(name: str) -> str:
    if re.fullmatch(r"[0-9.]+", name):
        return name
    uid = getattr(pydicom.uid, name, None)
    if uid is None:
        raise ProfileError(f"select: unknown SOP class {name!r}; use a UID or a pydicom name "
                           "such as EncapsulatedPDFStorage.")
    return str(uid)


class Selector:
    """Decide per instance whether the trial wants its series.

    >>> Selector({"modality": ["CT"]}).reason("MR", "", "") is not None
    True
    """

    def __init__(self, rules: dict | None):
        rules = rules or {}
        self.modality = {m.upper() for m in rules.get("modality", [])}
        self.sop_class = {_uid(s) for s in rules.get("sop_class", [])}
        self.exclude_sop_class = {_uid(s) for s in rules.get("exclude_sop_class", [])}
        self.description = re.compile(rules["series_description"]) \
            if rules.get("series_description") else None
        self.exclude_description = re.compile(rules["exclude_series_description"]) \
            if rules.get("exclude_series_description") else None

    def reason(self, modality: str, sop_class: str, description: str) -> str | None:
        """Why a series is not wanted, or None when it is."""
        if self.modality and modality.upper() not in self.modality:
            return f"modality {modality or '(none)'} not selected ({', '.join(sorted(self.modality))})"
        if self.sop_class and sop_class not in self.sop_class:
            return f"SOP class {sop_class} not selected"
        if sop_class in self.exclude_sop_class:
            return f"SOP class {sop_class} excluded by the profile"
        if self.description and not self.description.search(description):
            return "series description does not match the profile's pattern"
        if self.exclude_description and self.exclude_description.search(description):
            return "series description excluded by the profile"
        return None

    def instance_reason(self, inst: Instance) -> str | None:
        return self.reason(inst.modality, inst.sop_class, inst.series_description)

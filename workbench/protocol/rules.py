"""A trial protocol: what it says (series, SOP classes, ranges, timepoints, structures)
and its loading from YAML, with errors that name the file and the place."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import yaml
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR, keyword_dict, tag_for_keyword

from ..errors import ProfileError
from ..profile import find_profile

SEVERITIES = ("pass", "warn", "fail")
NUMERIC_VRS = {"DS", "IS", "FL", "FD", "US", "UL", "SS", "SL", "UV", "SV"}
#: Modality codes (PS3.3 C.7.3.1.1.1 and CID 33), plus SC, which exporters write.
MODALITIES = frozenset(
    "AR ASMT AU BDUS BI BMD CFM CR CT CTPROTOCOL DG DMS DOC DX ECG EEG EMG EOG EPS ES FID GM "
    "HC HD IO IOL IVOCT IVUS KER KO LEN LS M3D MG MR NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV "
    "OSS OT PLAN POS PR PT PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD "
    "RTSEGANN RTSTRUCT RWV SC SEG SM SMR SR SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL "
    "XC".split())
TOP_KEYS = {"name", "title", "source", "series", "sop_classes", "timepoints", "rename"}
SERIES_KEYS = {"modality", "description", "sop_class", "required", "min", "max", "ranges",
               "structures"}
STRUCTURE_KEYS = {"required", "tg263"}
SOP_KEYS = {"allowed", "severity"}
TIMEPOINT_KEYS = {"study_description", "order", "series"}
@dataclass(frozen=True)
class Finding:
    """The outcome of one rule for one study (``study`` is its StudyInstanceUID, empty
    for a finding about a patient or the whole delivery)."""

    study: str
    patient_id: str
    rule: str
    severity: str  # "pass" | "warn" | "fail"
    detail: str
    suggestion: str = ""


@dataclass(frozen=True)
class SeriesRule:
    """What series of one kind look like, how many a study holds, and their ranges."""

    name: str
    modality: str
    description: re.Pattern | None = None
    sop_class: str | None = None
    required: bool = True
    min: int = 1
    max: int | None = None
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    structures: tuple[str, ...] = ()
    tg263: bool = False


@dataclass(frozen=True)
class Timepoint:
    """A study of each patient, by StudyDescription and/or its place in date order."""

    name: str
    study_description: re.Pattern | None
    order: int | None
    series: tuple[str, ...]


@dataclass
class Protocol:
    """A loaded, validated trial protocol."""

    name: str
    title: str
    path: Path
    series: list[SeriesRule]
    allowed: frozenset[str] | None = None
    sop_severity: str = "warn"
    timepoints: list[Timepoint] = field(default_factory=list)
    rename: dict[str, dict[str, str]] = field(default_factory=dict)


# --- loading ------------------------------------------------------------------------

def load_protocol(name_or_path: str | os.PathLike) -> Protocol:
    """Load a protocol by name (searched like profiles, in ``protocols/``) or path."""
    path = find_profile(name_or_path, sub="protocols", kind="protocol")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({exc}); fix the file and retry.") from None
    doc = _mapping(path, "the protocol", doc, TOP_KEYS)
    if not isinstance(doc.get("series"), dict) or not doc["series"]:
        raise ProfileError(f"{path}: 'series' must map rule names to series rules, e.g. "
                           "series: {CT: {modality: CT}}; see workbench/profiles/README.md.")
    rules = [_series_rule(path, str(k), v) for k, v in doc["series"].items()]
    allowed, severity = _sop_classes(path, doc.get("sop_classes"))
    names = [r.name for r in rules]
    timepoints = [_timepoint(path, str(k), v, names)
                  for k, v in _mapping(path, "timepoints", doc.get("timepoints") or {}).items()]
    return Protocol(name=str(doc.get("name", path.stem)), title=str(doc.get("title", "")),
                    path=path, series=rules, allowed=allowed, sop_severity=severity,
                    timepoints=timepoints, rename=_rename(path, doc.get("rename")))


def _fail(path: Path, where: str, message: str) -> ProfileError:
    return ProfileError(f"{path}: {where}: {message}")


def _closest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _mapping(path: Path, where: str, value: Any, allowed: set[str] | None = None) -> dict:
    """``value`` as a mapping whose keys are all in ``allowed`` (any key when None)."""
    if not isinstance(value, dict):
        raise _fail(path, where, f"expected a mapping (key: value), got {value!r}.")
    for key in value:
        if allowed is not None and key not in allowed:
            raise _fail(path, where, f"unknown key {key!r}; {_closest(str(key), allowed)}"
                        f"allowed: {', '.join(sorted(allowed))}.")
    return value


def _regex(path: Path, where: str, text: Any) -> re.Pattern:
    try:
        return re.compile(str(text), re.IGNORECASE)
    except re.error as exc:
        raise _fail(path, where, f"bad regular expression {text!r} ({exc}); write a Python "
                    "regex, e.g. '^CT' or 'PET.*AC' (quote it in YAML).") from None


def _count(path: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, where, f"{value!r} is not a count; write a whole number >= 0.")
    return value


def _series_rule(path: Path, name: str, doc: Any) -> SeriesRule:
    where = f"series {name}"
    doc = _mapping(path, where, doc, SERIES_KEYS)
    modality = str(doc.get("modality") or "").strip()
    if modality not in MODALITIES:
        hint = " (PET is PT)" if modality.upper() == "PET" else ""
        raise _fail(path, f"{where}: modality", f"{modality or '(missing)'!r} is not a DICOM "
                    f"modality{hint}; {_closest(modality.upper(), MODALITIES)}write e.g. CT, PT, "
                    "MR, RTSTRUCT.")
    required = doc.get("required", True)
    if not isinstance(required, bool):
        raise _fail(path, f"{where}: required", f"{required!r}: write true or false.")
    lo = _count(path, f"{where}: min", doc.get("min", 1 if required else 0))
    hi = doc.get("max")
    if hi is not None and _count(path, f"{where}: max", hi) < lo:
        raise _fail(path, where, f"max {hi} is below min {lo}; write max >= min.")
    if required and lo == 0:
        raise _fail(path, f"{where}: min", "a required series needs min >= 1; write "
                    "required: false for an optional series.")
    structures, tg263 = _structures(path, where, doc.get("structures"))
    return SeriesRule(
        name=name, modality=modality,
        description=_regex(path, f"{where}: description", doc["description"])
        if "description" in doc else None,
        sop_class=_sop_class(path, f"{where}: sop_class", doc["sop_class"])
        if "sop_class" in doc else None,
        required=required, min=lo, max=hi,
        ranges={k: _range(path, f"{where}: ranges: {k}", k, v)
                for k, v in _mapping(path, f"{where}: ranges", doc.get("ranges") or {}).items()},
        structures=structures, tg263=tg263)


def _range(path: Path, where: str, keyword: str, value: Any) -> tuple[float | None, float | None]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise _fail(path, where, f"unknown attribute keyword {keyword!r}; "
                    f"{_closest(keyword, keyword_dict)}use a DICOM keyword as pydicom spells "
                    "it, e.g. SliceThickness, KVP, RepetitionTime.")
    if dictionary_VR(tag) not in NUMERIC_VRS:
        raise _fail(path, where, f"{keyword} is not numeric (VR {dictionary_VR(tag)}); a range "
                    "needs a numeric attribute (VR DS, IS, FL, FD, US, UL, SS or SL).")
    ok = (isinstance(value, list) and len(value) == 2
          and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                  for v in value) and value != [None, None])
    if not ok or (None not in value and value[0] > value[1]):
        raise _fail(path, where, f"bad range {value!r}; write [low, high] with low <= high "
                    "(null for an open end), e.g. [0.5, 5].")
    return (value[0], value[1])


def _structures(path: Path, where: str, doc: Any) -> tuple[tuple[str, ...], bool]:
    if doc is None:
        return (), False
    doc = _mapping(path, f"{where}: structures", doc, STRUCTURE_KEYS)
    names = doc.get("required") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(path, f"{where}: structures: required", "write a list of ROI names.")
    tg263 = doc.get("tg263", False)
    if not isinstance(tg263, bool):
        raise _fail(path, f"{where}: structures: tg263", f"{tg263!r}: write true or false.")
    return tuple(names), tg263


@cache
def _sop_keywords() -> dict[str, str]:
    return {v[4]: uid for uid, v in UID_dictionary.items() if v[1] == "SOP Class"}


def _sop_class(path: Path, where: str, value: Any) -> str:
    text = str(value).strip()
    if text in _sop_keywords():
        return _sop_keywords()[text]
    if re.fullmatch(r"[0-2](\.(0|[1-9]\d*))+", text) and len(text) <= 64:
        return text
    raise _fail(path, where, f"unknown SOP class {text!r}; {_closest(text, _sop_keywords())}"
                "write a keyword as pydicom spells it (e.g. CTImageStorage) or a UID.")


def _sop_classes(path: Path, doc: Any) -> tuple[frozenset[str] | None, str]:
    if doc is None:
        return None, "warn"
    doc = _mapping(path, "sop_classes", doc, SOP_KEYS)
    severity = doc.get("severity", "warn")
    if severity not in ("warn", "fail"):
        raise _fail(path, "sop_classes: severity", f"{severity!r}: write warn or fail.")
    allowed = doc.get("allowed")
    if not isinstance(allowed, list) or not allowed:
        raise _fail(path, "sop_classes: allowed", "write a list of SOP class keywords or UIDs.")
    return frozenset(_sop_class(path, "sop_classes: allowed", v) for v in allowed), severity


def _timepoint(path: Path, name: str, doc: Any, rules: list[str]) -> Timepoint:
    where = f"timepoints: {name}"
    doc = _mapping(path, where, doc, TIMEPOINT_KEYS)
    if "study_description" not in doc and "order" not in doc:
        raise _fail(path, where, "say which study it is: study_description (a regex) and/or "
                    "order (1 = the patient's first study by date).")
    order = doc.get("order")
    if order is not None and (_count(path, f"{where}: order", order) < 1):
        raise _fail(path, f"{where}: order", "write 1 or more (1 = the first study).")
    series = doc.get("series") or []
    if not isinstance(series, list):
        raise _fail(path, f"{where}: series", "write a list of series rule names.")
    for s in series:
        if s not in rules:
            raise _fail(path, f"{where}: series", f"no series rule {s!r}; "
                        f"{_closest(str(s), rules)}defined: {', '.join(rules)}.")
    desc = doc.get("study_description")
    return Timepoint(name, _regex(path, f"{where}: study_description", desc)
                     if desc is not None else None, order, tuple(series))


def _rename(path: Path, doc: Any) -> dict[str, dict[str, str]]:
    sites = _mapping(path, "rename", doc or {})
    out = {}
    for site, names in sites.items():
        names = _mapping(path, f"rename: {site}", names or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
            raise _fail(path, f"rename: {site}", "write ROI name pairs, e.g. "
                        "{\"Lt Parotid\": Parotid_L}.")
        out[str(site)] = dict(names)
    return out



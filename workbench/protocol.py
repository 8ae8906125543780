"""Check that a delivery fits a trial protocol, from headers only.

A protocol (YAML in ``workbench/profiles/protocols/``, format in
``workbench/profiles/README.md``) names the series each study needs, the SOP
classes allowed, ranges for acquisition parameters, timepoints and, for RT
structure sets, the structures required and the TG-263 name check.
:func:`check` returns one :class:`Finding` per study and rule; a finding of
severity ``"fail"`` blocks the release.

Examples
--------
>>> p = load_protocol("petct-trial")
>>> [r.name for r in p.series][:2]
['CT', 'PET']
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from pydicom import dcmread
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR, keyword_dict, tag_for_keyword

from .catalog import Instance, scan
from .errors import ProfileError, WorkbenchError
from .profile import find_profile

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
#: TG-263 target names: type, classifier, number, then "_" and a level, Eval or a dose.
TG263_TARGET = re.compile(r"(GTV|CTV|ITV|IGTV|ICTV|PTV)(p|n|m|sb|par|v|vas)?\d*"
                          r"(_(High|Mid|Low|Eval|\d+(\.\d+)?(Gy)?))*")
PRV = re.compile(r"(.+)_PRV\d{0,2}")


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


# --- TG-263 ---------------------------------------------------------------------------

@cache
def tg263_names() -> tuple[str, ...]:
    """The shipped TG-263 standard names (``workbench/data/tg263-names.txt``)."""
    text = resources.files("workbench").joinpath("data/tg263-names.txt").read_text()
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


def is_tg263(name: str) -> bool:
    """Whether ``name`` is a TG-263 name: listed, a target pattern, or a listed organ's PRV."""
    names = set(tg263_names())
    prv = PRV.fullmatch(name)
    return name in names or bool(TG263_TARGET.fullmatch(name)) or bool(prv and prv[1] in names)


#: Common names the word match and difflib miss, by :func:`_key`.
ALIASES = {"body": "External", "outline": "External", "patient": "External",
           "cord": "SpinalCord", "bowelbag": "Bag_Bowel"}
_SIDES = {"l": "L", "lt": "L", "left": "L", "r": "R", "rt": "R", "right": "R"}


def _key(name: str) -> str:
    """A name without case, separators or laterality words, laterality moved to the end."""
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
                                 .lower()) if w]
    sides = [_SIDES[w] for w in words if w in _SIDES]
    return "".join(w for w in words if w not in _SIDES) + "".join(sides[:1]).lower()


def tg263_suggestions(name: str, n: int = 3) -> list[str]:
    """The TG-263 names closest to ``name`` (same words first, then difflib)."""
    names = tg263_names()
    keys = {_key(s): s for s in names}
    found = [keys[_key(name)]] if _key(name) in keys else []
    found += [ALIASES[_key(name)]] if _key(name) in ALIASES else []
    for k in difflib.get_close_matches(_key(name), list(keys), n=n, cutoff=0.6):
        found.append(keys[k])
    found += difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    return list(dict.fromkeys(found))[:n]


# --- checking -------------------------------------------------------------------------

@dataclass(eq=False)
class _Series:
    """The files of one series (in instance order) and, once read, one file's header."""

    uid: str
    files: list[Instance]
    _header: Any = None

    @property
    def first(self) -> Instance:
        return self.files[0]

    @property
    def label(self) -> str:
        return f"{self.first.modality} {self.first.series_description!r}"

    def header(self):
        """One file's header (no pixels), read once."""
        if self._header is None:
            self._header = dcmread(self.first.path, stop_before_pixels=True, force=True)
        return self._header


def check(instances_or_src: Iterable[Instance] | str | os.PathLike,
          protocol: Protocol | str | os.PathLike, site: str | None = None) -> list[Finding]:
    """One :class:`Finding` per study and rule of ``protocol`` (renames of ``site``)."""
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    if isinstance(instances_or_src, (str, os.PathLike)):
        if not Path(instances_or_src).exists():
            raise WorkbenchError(f"{instances_or_src}: no such file or folder; give the "
                                 "delivery folder to check.", path=str(instances_or_src))
        instances = scan(instances_or_src)[0]
    else:
        instances = list(instances_or_src)
    if not instances:
        return [Finding("", "", "delivery", "fail", "no DICOM instances found",
                        "check the folder given")]
    studies: dict[str, dict[str, _Series]] = {}
    for i in sorted(instances, key=lambda i: (i.instance_number or 0, i.path)):
        study = studies.setdefault(i.study_uid, {})
        study.setdefault(i.series_uid, _Series(i.series_uid, [])).files.append(i)
    points, findings = _timepoints(studies, protocol)
    renames = protocol.rename.get(site or "", {})
    for uid, series in studies.items():
        findings += _check_study(uid, list(series.values()), protocol, points.get(uid), renames)
    return findings


def _first(series: dict[str, _Series]) -> Instance:
    return next(iter(series.values())).first


def _timepoints(studies: dict[str, dict[str, _Series]], protocol: Protocol
                ) -> tuple[dict[str, Timepoint | None], list[Finding]]:
    """Each study's timepoint (None: none matches), and a fail per timepoint a patient lacks."""
    points: dict[str, Timepoint | None] = {}
    findings = []
    if not protocol.timepoints:
        return points, findings
    patients: dict[str, list[Instance]] = {}
    for series in studies.values():
        patients.setdefault(_first(series).patient_id, []).append(_first(series))
    for patient, firsts in patients.items():
        firsts.sort(key=lambda i: (i.study_date, i.study_uid))
        for k, i in enumerate(firsts, start=1):
            points[i.study_uid] = next(
                (t for t in protocol.timepoints if (t.order in (None, k)) and (
                    t.study_description is None or t.study_description.search(
                        i.study_description))), None)
        for t in protocol.timepoints:
            if all(points[i.study_uid] != t for i in firsts):
                findings.append(Finding("", patient, f"timepoint {t.name}", "fail",
                                        f"no study for timepoint {t.name} ({_describe_tp(t)})",
                                        "send the study, or check its StudyDescription"))
    return points, findings


def _describe_tp(t: Timepoint) -> str:
    parts = [f"StudyDescription ~ {t.study_description.pattern!r}"] if t.study_description \
        else []
    return " and ".join(parts + ([f"study {t.order} by date"] if t.order else []))


def _matches(rule: SeriesRule, s: _Series) -> bool:
    i = s.first
    return (i.modality == rule.modality
            and (rule.description is None or bool(rule.description.search(i.series_description)))
            and (rule.sop_class is None or i.sop_class == rule.sop_class))


def _check_study(uid: str, series: list[_Series], protocol: Protocol, point: Timepoint | None,
                 renames: dict[str, str]) -> list[Finding]:
    pid = series[0].first.patient_id
    out = []

    def add(rule: str, severity: str, detail: str, suggestion: str = "") -> None:
        out.append(Finding(uid, pid, rule, severity, detail, suggestion))

    if protocol.timepoints:
        first = series[0].first
        if point is None:
            add("timepoint", "fail", f"study {first.study_description!r} matches no timepoint",
                "; ".join(f"{t.name}: {_describe_tp(t)}" for t in protocol.timepoints))
        else:
            add("timepoint", "pass", point.name)
    for rule in protocol.series:
        needed = (point is not None and rule.name in point.series) if protocol.timepoints \
            else rule.required
        found = [s for s in series if _matches(rule, s)]
        if needed or found:
            add(*_count_finding(rule, found, series, needed))
        for keyword, bounds in rule.ranges.items():
            if found:
                add(f"{keyword} ({rule.name})", *_range_finding(keyword, bounds, found))
        for s in found if rule.structures or rule.tg263 else ():
            out.extend(Finding(uid, pid, *f) for f in _structure_findings(rule, s, renames))
    if protocol.allowed is not None:
        add(*_sop_finding(protocol, series))
    return out


def _describe_rule(rule: SeriesRule) -> str:
    parts = [f"modality {rule.modality}"]
    if rule.description:
        parts.append(f"SeriesDescription ~ {rule.description.pattern!r}")
    if rule.sop_class:
        parts.append(f"SOP class {_sop_name(rule.sop_class)}")
    return ", ".join(parts)


def _sop_name(uid: str) -> str:
    return UID_dictionary.get(uid, (uid,))[0]


def _count_finding(rule: SeriesRule, found: list[_Series], series: list[_Series],
                   needed: bool) -> tuple[str, str, str, str]:
    name = f"series {rule.name}"
    lo = rule.min if needed else 0
    if len(found) < lo:
        others = ", ".join(s.label for s in series) or "none"
        return (name, "fail", f"{len(found)} series match ({_describe_rule(rule)}), "
                f"{lo} needed; the study has: {others}",
                f"send the {rule.name} series, or check its SeriesDescription")
    if rule.max is not None and len(found) > rule.max:
        return (name, "fail", f"{len(found)} series match, at most {rule.max} allowed: "
                f"{', '.join(s.label for s in found)}",
                "send only the series the protocol asks for")
    what = ", ".join(s.label for s in found) or "none (optional)"
    return (name, "pass", f"{len(found)} series: {what}", "")


def _numbers(value: Any) -> list[float]:
    """The numbers of a (multi-)value; empty when absent or empty."""
    values = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) \
        else [value]
    return [float(v) for v in values if v not in (None, "")]


def _range_finding(keyword: str, bounds: tuple[float | None, float | None],
                   found: list[_Series]) -> tuple[str, str, str]:
    lo, hi = bounds
    want = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    bad, good = [], []
    for s in found:
        try:
            values = _numbers(s.header().get(keyword))
        except (TypeError, ValueError) as exc:
            bad.append(f"{s.label}: {keyword} not a number ({exc})")
            continue
        except Exception as exc:  # an unreadable header is a finding, not a crash
            bad.append(f"{s.label}: header unreadable ({type(exc).__name__}: {exc})")
            continue
        if not values:
            bad.append(f"{s.label}: {keyword} absent")
        elif any((lo is not None and v < lo) or (hi is not None and v > hi) for v in values):
            bad.append(f"{s.label}: {keyword} {'/'.join(f'{v:g}' for v in values)}")
        else:
            good.append(f"{'/'.join(f'{v:g}' for v in values)}")
    if bad:
        return ("fail", f"outside {want}: " + "; ".join(bad),
                f"the protocol needs {keyword} in {want}; send a series acquired or "
                "reconstructed that way")
    return ("pass", f"{keyword} {', '.join(good)} in {want}", "")


def _likely(wanted: str, names: list[str]) -> list[str]:
    """The one of ``names`` most like ``wanted`` (same words first, then difflib), if any."""
    same = [n for n in names if _key(n) == _key(wanted)]
    return same[:1] or difflib.get_close_matches(wanted, names, n=1, cutoff=0.5)


def _structure_findings(rule: SeriesRule, s: _Series, renames: dict[str, str]
                        ) -> list[tuple[str, str, str, str]]:
    try:
        rois = [str(r.get("ROIName", "")) for r in s.header().get("StructureSetROISequence", [])]
    except Exception as exc:  # an unreadable header is a finding, not a crash
        return [(f"structures ({rule.name})", "fail", f"{s.label}: header unreadable "
                 f"({type(exc).__name__}: {exc})", "")]
    names = [renames.get(n, n) for n in rois]
    out = []
    if rule.structures:
        missing = [n for n in rule.structures if n not in names]
        if missing:
            spare = [n for n in names if n not in rule.structures]
            hints = [f"{m!r} may be {c!r}" for m in missing for c in _likely(m, spare)]
            out.append((f"structures ({rule.name})", "fail",
                        f"missing {', '.join(missing)}; found: {', '.join(names) or 'none'}",
                        "; ".join(hints) + ("; add a rename entry for the site" if hints else
                                            "contour them, or rename them in the structure set")))
        else:
            out.append((f"structures ({rule.name})", "pass",
                        f"all {len(rule.structures)} required structures present", ""))
    if rule.tg263:
        odd = [(old, new) for old, new in zip(rois, names) if not is_tg263(new)]
        for old, new in odd:
            close = tg263_suggestions(new)
            out.append((f"TG-263 name {old!r}", "warn",
                        f"ROI {old!r} is not a TG-263 standard name",
                        (f"TG-263: {' or '.join(close)}; " if close else "")
                        + f"map it under rename: {{SITE: {{{old!r}: <TG-263 name>}}}}"))
        if not odd:
            out.append((f"TG-263 names ({rule.name})", "pass",
                        f"all {len(rois)} ROI names are TG-263 names", ""))
    return out


def _sop_finding(protocol: Protocol, series: list[_Series]) -> tuple[str, str, str, str]:
    odd = [s for s in series if s.first.sop_class not in protocol.allowed]
    if not odd:
        return ("SOP classes", "pass", f"all {len(series)} series of allowed SOP classes", "")
    return ("SOP classes", protocol.sop_severity, "not allowed: " + ", ".join(
        f"{_sop_name(s.first.sop_class)} ({s.label})" for s in odd),
        "leave these series out of the delivery, or add their class to sop_classes.allowed")


def findings_table(findings: list[Finding]):
    """Findings as a pandas DataFrame: one row per study and rule (pandas imported here)."""
    import pandas as pd

    cols = ["patient_id", "study", "rule", "severity", "detail", "suggestion"]
    return pd.DataFrame([{c: getattr(f, c) for c in cols} for f in findings], columns=cols)


def study_results(findings: list[Finding]) -> dict[str, tuple[str, str]]:
    """Each checked study's worst severity and its failed rules, by StudyInstanceUID (what
    the store records: a ``fail`` keeps the study from approval). Findings about a patient
    or the whole delivery (a missing timepoint) are reported, not bound to a study."""
    results: dict[str, tuple[str, str]] = {}
    for f in findings:
        if not f.study:
            continue
        worst, failed = results.get(f.study, ("pass", ""))
        if SEVERITIES.index(f.severity) > SEVERITIES.index(worst):
            worst = f.severity
        if f.severity == "fail":
            failed = "; ".join(filter(None, [failed, f"{f.rule}: {f.detail}"]))
        results[f.study] = (worst, failed)
    return results


def report_lines(findings: list[Finding]) -> list[str]:
    """One line per study and rule (then a count), as ``workbench validate`` prints them."""
    lines = [f"{f.severity:4}  {f.patient_id or '-'}  {f.study or '-'}  {f.rule}: {f.detail}"
             + (f" -> {f.suggestion}" if f.suggestion else "") for f in findings]
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    return lines + [", ".join(f"{n} {s}" for s, n in counts.items())]


def exit_code(findings: list[Finding]) -> int:
    """2 when a finding fails, else 0."""
    return 2 if any(f.severity == "fail" for f in findings) else 0

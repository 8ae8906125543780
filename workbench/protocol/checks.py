"""Checking a delivery against a protocol: one finding per study and rule."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

from pydicom import dcmread
from pydicom._uid_dict import UID_dictionary

from ..catalog import Instance, scan
from ..errors import WorkbenchError
from .rules import SEVERITIES, Finding, Protocol, SeriesRule, Timepoint, load_protocol
from .tg263 import is_tg263, structure_key, tg263_suggestions

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
    same = [n for n in names if structure_key(n) == structure_key(wanted)]
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

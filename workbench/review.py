"""Review tables (pandas): what a profile does to every attribute, and why.

Every view of the review is a DataFrame a user can save: the catalog of
studies and series, the tag diff of one instance, the retained / removed /
replaced / emptied summary over a series, study or delivery, the PHI scan of
every distinct value per attribute path, and the PET check of the SUV inputs.
The widgets in :mod:`workbench.widgets` only display these tables.

The ``*_html`` functions render them for reading (:func:`tag_diff_html`,
:func:`change_summary_html`, :func:`pet_check_html`, :func:`phi_scan_html` after
:func:`phi_triage`): tables that wrap to the page width, groups that fold, pages of
200 rows. :func:`timeline` draws each subject's study dates before and after the
date shift.

Examples
--------
>>> from workbench.profile import load_profile
>>> plan_table(load_profile("ps315-basic")).columns.tolist()
['tag', 'keyword', 'name', 'basic', 'action', 'rule']
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from pydicom import dcmread
from pydicom.datadict import dictionary_keyword, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID_dictionary

from .errors import ReviewError
from .profile import Action, Profile, table_rows

if TYPE_CHECKING:
    import pandas as pd

    from .catalog import Instance
    from .deid.run import Report
    from .store import Store

CODE_WORDS = {"K": "keep", "X": "remove", "Z": "empty", "D": "dummy", "C": "clean",
              "U": "hash UID", "U*": "keep sequence, hash UIDs inside", "S": "shift date",
              "R": "replace"}

#: What happened to an attribute, as seen by comparing the source with the output.
ACTIONS = ("retained", "replaced", "emptied", "removed", "added")
#: Background colours of the styled tables, one per action (colour-blind safe pastels).
ACTION_COLOURS = {"retained": "#e8f5e9", "replaced": "#fff3cd", "emptied": "#e3f2fd",
                  "removed": "#f8d7da", "added": "#ede7f6"}
#: Attributes the engine writes into every output, and why.
MARKERS = {
    "PatientIdentityRemoved": "de-identification marker (PS3.15 E.1.1)",
    "DeidentificationMethod": "de-identification marker: workbench, profile and its hash",
    "DeidentificationMethodCodeSequence": "de-identification marker: profile and option codes",
    "LongitudinalTemporalInformationModified": "de-identification marker: the date option",
}
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
PIXEL_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
_INDEX = re.compile(r"\[\d+\]")


# --- the profile ---------------------------------------------------------------------

def plan_table(profile: Profile):
    """One row per attribute: tag, keyword, name, basic action, resolved action, the rule.

    Covers every row of Table E.1-1, every override outside it, every rule by path
    (``Sequence/Attribute``), and every private rule (by group, creator and element byte).
    """
    import pandas as pd

    rows = []
    plan = profile.plan
    listed = set()
    for row in table_rows():
        tag = row["tag_int"]
        if tag is None:
            action, rule = _pattern(row, profile)
            rows.append((row["tag"], "", row["name"], row["basicProfile"], action, rule))
            continue
        listed.add(tag)
        a = plan.actions[tag]
        rows.append((row["tag"], keyword_for_tag(tag), row["name"], row["basicProfile"],
                     _describe(a), a.rule))
    for tag, a in sorted(profile.attributes.items()):
        if tag not in listed:
            rows.append((_tag(tag), keyword_for_tag(tag), "", "", _describe(a), a.rule))
    for path, a in sorted(plan.paths.items()):
        rows.append(("/".join(map(_tag, path)), "/".join(keyword_for_tag(t) or _tag(t)
                                                         for t in path), "", "", _describe(a), a.rule))
    for r in plan.private:
        el = "xxxx" if r.element is None else f"xx{r.element:02X}"
        rows.append((f"({r.group:04X},{el})", "", f"private: {r.creator}", "X",
                     CODE_WORDS[r.action], r.rule))
    df = pd.DataFrame(rows, columns=["tag", "keyword", "name", "basic", "action", "rule"])
    return df.sort_values("tag", kind="stable", ignore_index=True)


def _describe(a) -> str:
    word = CODE_WORDS.get(a.code, a.code)
    return f"{word} {a.value!r}" if a.code == "R" else word


def _pattern(row, profile: Profile) -> tuple[str, str]:
    if row["tag"].startswith("(GGGG"):
        if "retain_safe_private" in profile.options:
            return "keep if safe (E.3.10-1)", "retain_safe_private: C; other private removed"
        return "remove unless a private rule keeps it", "basic profile: X; creator-aware rules"
    if "clean_graphics" in profile.options:
        return "keep (pixel review)", "clean_graphics: C"
    return "remove", "basic profile: X (whole repeating group removed)"


# --- the catalog -----------------------------------------------------------------------

def sop_class_name(uid: str) -> str:
    """The name of a SOP class UID (the UID itself when DICOM does not define it)."""
    entry = UID_dictionary.get(uid)
    return entry[0] if entry else uid


def catalog_table(instances: Sequence[Instance]) -> pd.DataFrame:
    """One row per series with its study: patient, date, modality, description, counts, size.

    The grouping of :func:`workbench.catalog.series_table` with the study description
    and the SOP class name added; built column by column, so 50,000 instances take
    well under a second. Columns: ``patient_name``, ``patient_id``, ``study_date``,
    ``study_description``, ``study_uid``, ``series_uid``, ``series_number``,
    ``modality``, ``description``, ``sop_class``, ``sop_class_name``, ``instances``,
    ``files``, ``megabytes``.
    """
    import pandas as pd

    if not instances:
        return pd.DataFrame(columns=_CATALOG_COLUMNS)
    names = ["patient_name", "patient_id", "study_date", "study_description", "study_uid",
             "series_uid", "series_number", "modality", "series_description", "sop_class",
             "sop_uid", "path", "size"]
    frame = pd.DataFrame({n: [getattr(i, n) for i in instances] for n in names})
    keys = ["patient_name", "patient_id", "study_date", "study_uid", "series_uid"]
    table = (frame.groupby(keys, dropna=False, sort=False)
             .agg(study_description=("study_description", "first"),
                  modality=("modality", "first"), series_number=("series_number", "first"),
                  description=("series_description", "first"), sop_class=("sop_class", "first"),
                  instances=("sop_uid", "nunique"), files=("path", "count"),
                  megabytes=("size", "sum"))
             .reset_index())
    table["megabytes"] = (table["megabytes"] / 1e6).round(2)
    table["sop_class_name"] = table["sop_class"].map(
        {uid: sop_class_name(uid) for uid in table["sop_class"].unique()})
    table = table.sort_values(["patient_id", "study_date", "study_uid", "series_number"],
                              kind="stable", ignore_index=True)
    return table[_CATALOG_COLUMNS]


_CATALOG_COLUMNS = ["patient_name", "patient_id", "study_date", "study_description", "study_uid",
                    "series_uid", "series_number", "modality", "description", "sop_class",
                    "sop_class_name", "instances", "files", "megabytes"]


def study_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per study from :func:`catalog_table`: patient, date, modalities, counts, size."""
    keys = ["patient_name", "patient_id", "study_date", "study_description", "study_uid"]
    if catalog.empty:
        import pandas as pd

        return pd.DataFrame(columns=[*keys, "modalities", "series", "instances", "megabytes"])
    return (catalog.groupby(keys, dropna=False, sort=False)
            .agg(modalities=("modality", lambda s: ", ".join(sorted(set(s)))),
                 series=("series_uid", "count"), instances=("instances", "sum"),
                 megabytes=("megabytes", lambda s: round(s.sum(), 2)))
            .reset_index())


def spot_check_sample(instances: Sequence[Instance], per_site: int = 1,
                      seed: int = 0) -> pd.DataFrame:
    """A reproducible random sample of ``per_site`` studies from each site of an output.

    The site is the ClinicalTrialSiteID of each study's first file ("" when absent);
    the same ``seed`` draws the same sample. Columns: ``site``, ``subject``, ``date``,
    ``series``, ``files``, ``study_uid``; ``attrs`` holds the ``studies`` and ``sites``
    sampled from.
    """
    import pandas as pd

    columns = ["site", "subject", "date", "series", "files", "study_uid"]
    if not instances:
        return pd.DataFrame(columns=columns)
    files = pd.DataFrame({"study_uid": [i.study_uid for i in instances],
                          "subject": [i.patient_id for i in instances],
                          "date": [i.study_date for i in instances],
                          "series_uid": [i.series_uid for i in instances],
                          "path": [i.path for i in instances]})
    studies = (files.groupby("study_uid", sort=False)
               .agg(subject=("subject", "first"), date=("date", "first"),
                    series=("series_uid", "nunique"), files=("path", "count"),
                    first_file=("path", "first"))
               .reset_index())
    studies["site"] = [str(dcmread(f, stop_before_pixels=True).get("ClinicalTrialSiteID", ""))
                       for f in studies["first_file"]]
    sample = (studies.sample(frac=1, random_state=seed).groupby("site", sort=True)
              .head(per_site).sort_values(["site", "subject"], ignore_index=True))[columns]
    sample.attrs.update(studies=len(studies), sites=studies["site"].nunique())
    return sample


# --- source and output pairs -------------------------------------------------------------

PAIR_COLUMNS = ["source", "output", "state", "reason", "study_uid", "series_uid", "sop_uid",
                "modality", "series_number", "series_description", "instance_number"]


def pair_outputs(instances: Sequence[Instance], *, report: Report | None = None,
                 store: Store | None = None, profile: Profile | str | None = None,
                 secret: bytes | None = None) -> pd.DataFrame:
    """Pair each source instance with its output file.

    Parameters
    ----------
    instances
        The source catalog (:func:`workbench.catalog.scan`).
    report
        The :class:`~workbench.deid.run.Report` of the run: pairs by its per-file outcomes
        (quarantined outputs included, with their reason).
    store, profile, secret
        Without a report: the store that recorded the verified outputs and the profile
        that made them; outputs are matched by their SOP Instance UID, the source's
        remapped with the trial secret (the store's unless ``secret`` is given).

    Returns
    -------
    DataFrame
        One row per source instance (columns :data:`PAIR_COLUMNS`); ``output`` is None and
        ``state`` and ``reason`` say why for instances without one (skipped, duplicate,
        quarantined before de-identification).
    """
    import pandas as pd

    found: dict[str, tuple[str | None, str, str]] = {}
    key = os.path.realpath  # the run resolves its source folder; a catalog may not
    if report is not None:
        for o in report.outcomes:
            output = o.output
            if output and o.state != "quarantined":
                output = str(Path(report.out) / output)
            found[key(o.source)] = (output, o.state, o.reason or "")
        for s in report.skipped:
            found[key(s.path)] = (None, "skipped", s.reason)
        for copy, original in report.duplicates:
            found[key(copy)] = (None, "duplicate", f"identical to {original}")
    elif store is not None and profile is not None:
        from .deid.engine import Engine
        from .profile import load_profile

        profile = profile if isinstance(profile, Profile) else load_profile(profile)
        outputs = {row["sop_uid"]: path for path, row in
                   store.verified_outputs(profile.trial_key).items()
                   if row["profile_hash"] == profile.hash}
        engine = Engine(profile, secret or store.trial_secret(profile.trial_key, create=False))
        for i in instances:
            path = outputs.get(engine.remap(i.sop_uid))
            found[key(i.path)] = (path, "verified", "") if path else (None, "no output", "")
    else:
        raise ReviewError("pair_outputs needs the run's report, or the store and the profile "
                          "that recorded the outputs.")
    rows = [(i.path, *found.get(key(i.path), (None, "no output", "")), i.study_uid,
             i.series_uid, i.sop_uid, i.modality, i.series_number, i.series_description,
             i.instance_number) for i in instances]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


# --- flattening a dataset ------------------------------------------------------------------

@dataclass(frozen=True)
class Element:
    """One attribute of a flattened dataset (sequence items included).

    ``path`` names it at its depth, e.g. ``RequestAttributesSequence[0].AccessionNumber``;
    private elements are named by creator, ``(0029,"SIEMENS MEDCOM HEADER",60)``, so that
    the same element matches whichever block it sits in. ``order`` sorts like the file.
    """

    path: str
    tag: str
    keyword: str
    vr: str
    value: str
    rule: str
    order: tuple[int, ...]


def normalise(path: str) -> str:
    """An attribute path without item indices: ``A[0].B[2].C`` -> ``A.B.C``."""
    return _INDEX.sub("", path)


def value_text(elem) -> str:
    """An element's value as review text (binary data as a byte count, sequences as items)."""
    vr, value = elem.VR, elem.value
    if vr == "SQ":
        return f"{len(value or [])} item(s)"
    if value is None or value == "" or value == b"":
        return ""
    if isinstance(value, bytes):
        text = _printable(value) if vr in ("UN", "OB") else None
        return text if text is not None else f"<{len(value)} bytes>"
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _printable(data: bytes) -> str | None:
    """Text hidden in an undecoded value (private UN elements), or None when binary."""
    data = data.rstrip(b"\0 ")
    if not data or len(data) > 1024:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text if text.replace("\\", "").isprintable() else None


class _Explainer:
    """Says which profile rule decides an element at a given place (the plan's answer)."""

    def __init__(self, profile: Profile | None):
        self.profile = profile

    def action(self, tag: int, vr: str, context: tuple[int, ...]) -> Action | None:
        return self.profile.plan.action(tag, vr, context) if self.profile is not None else None

    def private(self, group: int, creator: str, byte: int) -> str:
        if self.profile is None:
            return ""
        rule = self.profile.plan.private_action(group, creator, byte)
        if rule is None:
            return "private: no rule keeps this creator's element (removed)"
        return rule.rule


def flatten(ds: Dataset, profile: Profile | None = None) -> dict[str, Element]:
    """Every element of ``ds`` at every depth, by path, with the rule that decides it.

    File meta elements are included under ``FileMeta.``; pixel data is not read.
    """
    out: dict[str, Element] = {}
    explain = _Explainer(profile)
    meta = getattr(ds, "file_meta", None)
    for elem in meta or []:
        out[f"FileMeta.{elem.keyword}"] = Element(
            f"FileMeta.{elem.keyword}", _tag(elem.tag), elem.keyword, elem.VR, value_text(elem),
            "file meta: written by the engine for the output", (0, elem.tag))
    _walk(ds, "", (), (), out, explain)
    return out


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _keyword(tag: int) -> str:
    """The keyword of a standard tag, repeating groups (overlays, curves) included."""
    try:
        return dictionary_keyword(tag)
    except KeyError:
        return ""


def _walk(ds: Dataset, prefix: str, order: tuple[int, ...], context: tuple[int, ...],
          out: dict[str, Element], explain: _Explainer) -> None:
    creators = {(t >> 16, t & 0xFF): str(ds[t].value or "") for t in ds.keys()
                if (t >> 16) & 1 and 0x10 <= (t & 0xFFFF) <= 0xFF}
    for elem in ds:
        tag, vr = int(elem.tag), elem.VR
        group, element = tag >> 16, tag & 0xFFFF
        key = (*order, 1, tag)
        action, keyword = None, ""
        if group & 1 and element >= 0x1000 and (group, element >> 8) in creators:
            creator = creators[(group, element >> 8)]
            name = f'({group:04X},"{creator}",{element & 0xFF:02X})'
            rule = explain.private(group, creator, element & 0xFF)
            key = (*order, 1, (group << 16) | 0x1000 | (element & 0xFF))
        elif group & 1:
            name = _tag(tag)
            if 0x10 <= element <= 0xFF:
                keyword = "PrivateCreator"
                rule = "private creator: kept while one of its elements is kept"
            else:
                rule = "private: no creator, removed"
        elif element == 0:
            name, rule = _tag(tag), "group length: retired, never copied"
        else:
            keyword = _keyword(tag)
            name = keyword if keyword and (group & 0xFF01) not in (0x5000, 0x6000) \
                else _tag(tag)
            if (group & 0xFF01) in (0x5000, 0x6000):
                graphics = explain.profile is not None and \
                    "clean_graphics" in explain.profile.options
                rule = "curves and overlays: " + ("kept (clean_graphics)" if graphics
                                                  else "removed (no clean_graphics option)")
            else:
                action = explain.action(tag, vr, context)
                rule = action.rule if action is not None else ""
        path = prefix + name
        if keyword in PIXEL_KEYWORDS:
            text = f"<pixel data, {len(elem.value or b'')} bytes>"
        else:
            text = value_text(elem)
        out[path] = Element(path, _tag(tag), keyword, vr, text, rule, key)
        if vr == "SQ":
            for n, item in enumerate(elem.value or []):
                _walk(item, f"{path}[{n}].", (*key, n), (*context, tag), out, explain)


def _read(source: str | os.PathLike | Dataset) -> Dataset:
    if isinstance(source, Dataset):
        return source
    try:
        return dcmread(source, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise ReviewError(f"cannot read {source} as DICOM ({type(exc).__name__}: {exc}); "
                          "check the path or leave the file out of the review.") from exc


# --- tag diff and summary --------------------------------------------------------------------

#: Key columns first: what a reader compares; the full path and the VR follow.
TAG_DIFF_COLUMNS = ["tag", "keyword", "before", "after", "action", "rule", "path", "VR"]


def tag_diff(before: str | os.PathLike | Dataset, after: str | os.PathLike | Dataset,
             profile: Profile | str | None = None) -> pd.DataFrame:
    """The tag diff of one instance: every attribute before and after, and why.

    Parameters
    ----------
    before, after
        The source and output file (or datasets).
    profile
        The profile that made the output; it fills the ``rule`` column.

    Returns
    -------
    DataFrame
        Columns :data:`TAG_DIFF_COLUMNS`, one row per attribute path (sequence items and
        private elements included); ``action`` is one of :data:`ACTIONS`. A value that is
        not there (removed, or added by the engine) is blank: the action says which.
    """
    import pandas as pd

    from .deid.engine import TRIAL_TAGS

    if isinstance(profile, (str, os.PathLike)):
        from .profile import load_profile

        profile = load_profile(profile)
    old = flatten(_read(before), profile)
    new = flatten(_read(after), profile)
    trial_keywords = set(TRIAL_TAGS.values())
    rows = []
    for path in {**old, **new}:
        a, b = old.get(path), new.get(path)
        e = a or b
        if a is None:
            action = "added"
            top = path.split("[", 1)[0]
            if top in MARKERS:
                rule = MARKERS[top]
            elif b.keyword in trial_keywords:
                rule = "profile trial: block (Clinical Trial attributes)"
            else:
                rule = b.rule
        else:
            action = _action(a.value, b.value if b else None)
            rule = a.rule
        rows.append((e.order, e.tag, e.keyword, a.value if a else "", b.value if b else "",
                     action, rule, path, e.vr))
    rows.sort(key=lambda r: r[0])
    return pd.DataFrame([r[1:] for r in rows], columns=TAG_DIFF_COLUMNS)


def _action(before: str, after: str | None) -> str:
    if after is None:
        return "removed"
    if after == before:
        return "retained"
    if after in ("", "0 item(s)"):
        return "emptied"
    return "replaced"


SUMMARY_LEVELS = {"series": ["study_uid", "series_uid", "series"], "study": ["study_uid"],
                  "delivery": []}


def change_summary(pairs: pd.DataFrame, profile: Profile | str | None = None, *,
                   by: str = "delivery", per_series: int | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """How often each attribute was retained, replaced, emptied, removed or added.

    Parameters
    ----------
    pairs
        Source/output pairs from :func:`pair_outputs`; rows without an output are left
        out, quarantined outputs (de-identified, held for review) are included.
    profile
        The profile that made the outputs (fills the ``rule`` column).
    by
        ``delivery`` (one row per attribute), ``study`` or ``series`` (per study or series).
    per_series
        Compare at most this many instances per series (all by default).

    Returns
    -------
    DataFrame
        The grouping columns, then ``attribute`` (the path without item indices),
        ``keyword``, ``files`` (instances holding it before or after), one count column
        per action of :data:`ACTIONS`, and ``rule`` (the rules that decided it). Pairs
        that could not be read are left out and listed in ``table.attrs["unreadable"]``.
    """
    import pandas as pd
    from .progress import progress_bar

    if by not in SUMMARY_LEVELS:
        raise ReviewError(f"change_summary: by must be one of {', '.join(SUMMARY_LEVELS)}, "
                          f"not {by!r}.")
    done = _with_output(pairs)
    if per_series is not None:
        done = done.groupby("series_uid", sort=False).head(per_series)
    if isinstance(profile, (str, os.PathLike)):
        from .profile import load_profile

        profile = load_profile(profile)
    keys = SUMMARY_LEVELS[by]
    counts: dict[tuple, Counter] = defaultdict(Counter)
    rules: dict[tuple, Counter] = defaultdict(Counter)
    keywords: dict[tuple, str] = {}
    unreadable: list[dict] = []
    for row in progress_bar(done.itertuples(index=False), total=len(done), desc="compare",
                            unit="file", enabled=progress):
        group = tuple(_series_label(row) if k == "series" else getattr(row, k) for k in keys)
        try:
            diff = tag_diff(row.source, row.output, profile)
        except ReviewError as exc:  # listed in table.attrs; the summary goes on
            unreadable.append({"source": row.source, "output": row.output,
                               "reason": str(exc)})
            continue
        for path, keyword, action, rule in zip(diff["path"], diff["keyword"], diff["action"],
                                               diff["rule"]):
            key = (*group, normalise(path))
            counts[key][action] += 1
            rules[key][rule] += 1
            keywords[key] = keyword
    rows = []
    for key, c in counts.items():
        rows.append((*key, keywords[key], sum(c.values()), *(c[a] for a in ACTIONS),
                     "; ".join(r for r, _ in rules[key].most_common(2) if r)))
    table = pd.DataFrame(rows, columns=[*keys, "attribute", "keyword", "files", *ACTIONS,
                                        "rule"])
    table = table.sort_values([*keys, "attribute"], ignore_index=True)
    table.attrs["unreadable"] = unreadable
    return table


def _with_output(pairs: pd.DataFrame) -> pd.DataFrame:
    done = pairs[pairs["output"].notna()]
    if done.empty:
        raise ReviewError("no source/output pairs with an output to compare; de-identify first "
                          "(or check that the pairs come from the same run).")
    return done.sort_values(["series_uid", "instance_number"], kind="stable")


def _series_label(row) -> str:
    number = "" if row.series_number is None or row.series_number != row.series_number \
        else f" {int(row.series_number)}"
    return f"{row.modality}{number} {row.series_description}".strip()


# --- PHI scan --------------------------------------------------------------------------------

PHI_COLUMNS = ["attribute", "keyword", "VR", "value"]
#: The attribute of PHI scan rows that stand for files that could not be read.
UNREADABLE = "(file not read)"


def distinct_values(files: Iterable[str | os.PathLike], *, indexed: bool = False,
                    progress: bool = True) -> pd.DataFrame:
    """Every distinct value per attribute path over ``files``, with the number of files.

    Parameters
    ----------
    files
        DICOM files (headers only are read).
    indexed
        Keep sequence item indices in paths (``Seq[0].Name``); by default they are
        normalised away (``Seq.Name``) so that values count across items.

    Returns
    -------
    DataFrame
        ``attribute``, ``keyword``, ``VR``, ``value``, ``files``. Private creators and
        private elements (named by creator) are included; sequences themselves, pixel
        data and binary values are not. A file that cannot be read is a row of its own
        (attribute :data:`UNREADABLE`, the reason as value) and the scan goes on.
    """
    import pandas as pd
    from .progress import progress_bar

    files = list(files)
    counts: Counter = Counter()
    info: dict[str, tuple[str, str]] = {}
    for path in progress_bar(files, desc="scan values", unit="file", enabled=progress):
        seen = set()
        try:
            ds = _read(path)
        except ReviewError as exc:  # listed in the table; the scan goes on
            counts[(UNREADABLE, str(exc))] += 1
            info.setdefault(UNREADABLE, ("", ""))
            continue
        for e in flatten(ds).values():
            if e.vr == "SQ" or e.keyword in PIXEL_KEYWORDS or not e.value or \
                    (e.value.startswith("<") and e.value.endswith(" bytes>")):
                continue
            name = e.path if indexed else normalise(e.path)
            seen.add((name, e.value))
            info.setdefault(name, (e.keyword, e.vr))
        counts.update(seen)
    rows = [(name, *info[name], value, n) for (name, value), n in counts.items()]
    table = pd.DataFrame(rows, columns=[*PHI_COLUMNS, "files"])
    return table.sort_values(["attribute", "value"], ignore_index=True)


def phi_scan(before: Iterable[str | os.PathLike], after: Iterable[str | os.PathLike],
             *, indexed: bool = False, progress: bool = True) -> pd.DataFrame:
    """The PHI scan of a delivery: every distinct value per attribute, before and after.

    Returns
    -------
    DataFrame
        ``attribute``, ``keyword``, ``VR``, ``value``, ``before`` and ``after`` (files
        holding the value) and ``found`` (``only before``, ``both`` or ``only after``).
        A value found in both is a value the output still carries: read those first.
    """
    old = distinct_values(before, indexed=indexed, progress=progress)
    new = distinct_values(after, indexed=indexed, progress=progress)
    table = old.merge(new, on=["attribute", "value"], how="outer", suffixes=("", "_after"))
    for col in ("keyword", "VR"):
        table[col] = table[col].fillna(table.pop(f"{col}_after"))
    table = table.rename(columns={"files": "before", "files_after": "after"})
    table[["before", "after"]] = table[["before", "after"]].fillna(0).astype(int)
    table["found"] = [("both" if a else "only before") if b else "only after"
                      for b, a in zip(table["before"], table["after"])]
    return table.sort_values(["attribute", "value"], ignore_index=True)


# --- PET ------------------------------------------------------------------------------------

#: The SUVbw inputs, in the order a physicist reads them.
SUV_INPUTS = ("weight_kg", "total_dose_bq", "injection_time", "half_life_s", "series_time",
              "units", "decay_correction")
#: What each input is called in the rendered check.
SUV_LABELS = {"weight_kg": "patient weight (kg)", "total_dose_bq": "injected dose (Bq)",
              "injection_time": "radiopharmaceutical start", "half_life_s": "half life (s)",
              "series_time": "series time", "units": "units",
              "decay_correction": "decay correction"}


def pet_check(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per PET series: did the SUV inputs survive, and is the SUVbw factor the same?

    Reads the first instance of each PET series with an output, before and after.

    Returns
    -------
    DataFrame
        ``series``; per input of :data:`SUV_INPUTS` one of ``kept``, ``removed``,
        ``changed`` or ``absent`` (not in the source either); ``suv_before`` and
        ``suv_after`` (the factor, NaN when it cannot be computed), ``suv_same`` and
        ``problem`` (why the factor cannot be computed after, or why the files could not
        be read); ``study_uid`` and ``series_uid`` last. ``attrs["values"]`` holds, per
        series UID, each input's value before and after as text.
    """
    import pandas as pd

    from .pet import suv_bw_factor, suv_inputs

    done = _with_output(pairs)
    pet = done[done["modality"] == "PT"].groupby("series_uid", sort=False).head(1)
    rows, values = [], {}
    for row in pet.itertuples(index=False):
        try:
            ds_old, ds_new = _read(row.source), _read(row.output)
        except ReviewError as exc:  # a row saying why; the check goes on
            rows.append((_series_label(row), *["not read"] * len(SUV_INPUTS), float("nan"),
                         float("nan"), False, str(exc), row.study_uid, row.series_uid))
            continue
        old, new = _suv_view(suv_inputs(ds_old)), _suv_view(suv_inputs(ds_new))
        state = {k: _survived(old.get(k), new.get(k)) for k in SUV_INPUTS}
        values[row.series_uid] = {k: (_suv_text(old.get(k)), _suv_text(new.get(k)))
                                  for k in SUV_INPUTS}
        factors, problem = [], ""
        for ds in (ds_old, ds_new):
            try:
                factors.append(suv_bw_factor(ds))
            except ValueError as exc:
                factors.append(float("nan"))
                problem = str(exc)
        same = factors[0] == factors[0] and abs(factors[0] - factors[1]) <= 1e-9 * factors[0]
        rows.append((_series_label(row), *state.values(), *factors, same, problem,
                     row.study_uid, row.series_uid))
    table = pd.DataFrame(rows, columns=["series", *SUV_INPUTS, "suv_before", "suv_after",
                                        "suv_same", "problem", "study_uid", "series_uid"])
    table.attrs["values"] = values
    return table


def _suv_view(inputs: dict) -> dict:
    """SUV inputs as compared: the injection as its interval before the reference time.

    The series time is compared as a time of day (a date shift moves its date).
    """
    view = {k: inputs[k] for k in SUV_INPUTS if k in inputs}
    inj, ref = inputs["injection_datetime"], inputs["reference_datetime"]
    view["injection_time"] = None if inj is None else (ref - inj if ref else inj.time())
    view["series_time"] = None if ref is None else ref.time()
    return view


def _suv_text(value) -> str:
    """An SUV input as the check shows it (blank when absent)."""
    from datetime import timedelta

    if value is None:
        return ""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d} before"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _survived(before, after) -> str:
    if before is None:
        return "absent"
    if after is None:
        return "removed"
    return "kept" if before == after else "changed"


# --- styling --------------------------------------------------------------------------------

def style_actions(table: pd.DataFrame, column: str = "action"):
    """A pandas Styler colouring rows by their action (or action count cells above zero)."""
    styler = table.style
    if column in table.columns:
        def row_colour(row):
            colour = ACTION_COLOURS.get(row[column], "")
            return [f"background-color: {colour}" if colour else ""] * len(row)

        return styler.apply(row_colour, axis=1)
    present = [a for a in ACTIONS if a in table.columns]
    for action in present:
        styler = styler.map(
            lambda v, c=ACTION_COLOURS[action]: f"background-color: {c}" if v else "",
            subset=[action])
    return styler


# --- presentation: HTML a reader can read ------------------------------------------------------

class Rendered(str):
    """Rendered HTML: Jupyter shows it as HTML, also in an executed notebook without a kernel."""

    def _repr_html_(self) -> str:
        return str(self)


#: The block every rendered view sits in: never wider than the page, text line height
#: (an ipywidgets HTML widget would otherwise give every line the height of a control).
BLOCK_STYLE = "max-width:100%;min-width:0;line-height:1.35"


def _block(parts: Iterable[str]) -> Rendered:
    return Rendered(f'<div class="wb-review" style="{BLOCK_STYLE}">{"".join(parts)}</div>')


#: Inline style of every rendered table: as wide as the page, never wider; long values wrap.
#: (``white-space``, ``word-break`` and ``overflow-wrap`` are inherited by the cells.)
TABLE_STYLE = ("table-layout:fixed;width:100%;max-width:100%;border-collapse:collapse;"
               "white-space:normal;word-break:break-word;overflow-wrap:anywhere;"
               "font-size:12px")
#: The cells: aligned to the top left, so wrapped values read like text.
TABLE_CSS = ("<style>table.wb-table td,table.wb-table th{text-align:left;vertical-align:top;"
             "padding:2px 6px;white-space:normal;word-break:break-word;"
             "overflow-wrap:anywhere;max-width:none}"
             "details.wb-group>summary{cursor:pointer;padding:2px 0}</style>")
#: Characters of a value shown in a cell; the rest is in the cell's title.
CELL_CHARS = 400
TAG_DIFF_WIDTHS = {"tag": 9, "keyword": 13, "before": 19, "after": 19, "action": 7,
                   "rule": 17, "path": 12, "VR": 4}
PAGE_SIZE = 200


def _esc(value) -> str:
    import html

    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    if len(text) > CELL_CHARS:
        return (f'<span title="{html.escape(text)}">{html.escape(text[:CELL_CHARS])}'
                f" &hellip; ({len(text)} characters)</span>")
    return html.escape(text)


def short_uid(uid, head: int = 8, tail: int = 6) -> str:
    """A UID as HTML: its first and last characters, the whole UID in the title."""
    import html

    text = "" if uid is None or uid != uid else str(uid)
    if len(text) <= head + tail + 2:
        return html.escape(text)
    return (f'<span title="{html.escape(text)}">{html.escape(text[:head])}&hellip;'
            f"{html.escape(text[-tail:])}</span>")


def html_table(columns: Sequence[str], rows: Iterable[tuple[Sequence[str], str]],
               widths: dict[str, float] | None = None, *, header: bool = True,
               labels: dict[str, str] | None = None) -> str:
    """An HTML table that wraps to the page width.

    ``rows`` are ``(cells, style)``: cells already HTML (escape text with :func:`_esc`),
    the style of the row (e.g. its background). ``widths`` are percentages per column.
    """
    labels = labels or {}
    parts = [f'<table class="wb-table" style="{TABLE_STYLE}">']
    if widths:
        total = sum(widths.get(c, 0) for c in columns) or 1
        parts.append("<colgroup>" + "".join(
            f'<col style="width:{100 * widths.get(c, 0) / total:.1f}%">' for c in columns)
            + "</colgroup>")
    if header:
        parts.append("<thead><tr>" + "".join(f"<th>{_esc(labels.get(c, c))}</th>"
                                             for c in columns) + "</tr></thead>")
    parts.append("<tbody>")
    for cells, style in rows:
        parts.append((f'<tr style="{style}">' if style else "<tr>")
                     + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def page_bounds(total: int, page: int, page_size: int = PAGE_SIZE) -> tuple[int, int, int, int]:
    """``(page, pages, start, stop)`` of a 1-based page (clamped to the pages there are)."""
    pages = max(1, -(-total // max(page_size, 1)))
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    return page, pages, start, min(start + page_size, total)


def showing(total: int, page: int, page_size: int = PAGE_SIZE, what: str = "row(s)") -> str:
    """``showing 1–200 of 1234 row(s) (page 1 of 7)``: the rows of a page, never a silent cut."""
    page, pages, start, stop = page_bounds(total, page, page_size)
    if total == 0:
        return f"no {what}"
    return f"showing {start + 1}–{stop} of {total} {what} (page {page} of {pages})"


def _top(path: str) -> str:
    return path.split("[", 1)[0]


def tag_diff_html(diff: pd.DataFrame, *, page: int = 1, page_size: int = PAGE_SIZE,
                  open_groups: bool = False) -> Rendered:
    """A tag diff (:func:`tag_diff`, or rows of it) as HTML that fits the page.

    Key columns first, values wrapped, blanks for values that are not there; each
    top-level sequence with its items is a collapsible ``<details>`` whose summary counts
    the actions inside; ``page_size`` rows a page (``page`` from 1).
    """
    columns = [c for c in TAG_DIFF_COLUMNS if c in diff.columns]
    page, pages, start, stop = page_bounds(len(diff), page, page_size)
    shown = diff.iloc[start:stop]
    head = f"<small>{showing(len(diff), page, page_size, 'attribute(s)')}</small>"
    if diff.empty:
        return _block([TABLE_CSS, head])
    records = list(zip(*(shown[c].tolist() for c in columns)))
    at = {c: n for n, c in enumerate(columns)}
    header = html_table(columns, (), TAG_DIFF_WIDTHS)
    parts, plain, group, group_top = [TABLE_CSS, head, header], [], [], None

    def cells(r):
        return [_esc(v) for v in r], _row_style(r[at["action"]])

    def flush_plain():
        if plain:
            parts.append(html_table(columns, plain, TAG_DIFF_WIDTHS, header=False))
            plain.clear()

    def flush_group():
        if not group:
            return
        first = group[0]
        items = group[1:] if first[at["path"]] == group_top else group
        counts = Counter(r[at["action"]] for r in items)
        inside = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        if first[at["path"]] == group_top:
            title = (f"<b>{_esc(first[at['keyword']] or group_top)}</b> {_esc(first[at['tag']])}"
                     f" &mdash; {_esc(first[at['before']] or 'not in the source')} &rarr; "
                     f"{_esc(first[at['after']] or 'not in the output')}, "
                     f"{_esc(first[at['action']])}")
        else:
            title = f"<b>{_esc(group_top)}</b> (continued from the previous page)"
        summary = f"{title}; inside: {inside}" if inside else title
        body = html_table(columns, [cells(r) for r in group], TAG_DIFF_WIDTHS, header=False)
        parts.append(f'<details class="wb-group"{" open" if open_groups else ""}>'
                     f"<summary>{summary}</summary>{body}</details>")
        group.clear()

    for r in records:
        path = r[at["path"]]
        top = _top(path)
        nested = top != path or ("VR" in at and r[at["VR"]] == "SQ")
        if nested and top == group_top and group:
            group.append(r)
            continue
        flush_group()
        if nested:
            flush_plain()
            group_top = top
            group.append(r)
        else:
            group_top = None
            plain.append(cells(r))
    flush_group()
    flush_plain()
    return _block(parts)


def _row_style(action: str) -> str:
    colour = ACTION_COLOURS.get(action, "")
    return f"background-color:{colour}" if colour else ""


def change_summary_html(summary: pd.DataFrame, labels: dict[str, str] | None = None, *,
                        open_groups: bool = False) -> Rendered:
    """A change summary (:func:`change_summary`) per study, each a collapsible ``<details>``.

    Each study's summary line counts its attributes by what mostly happened to them
    (removed, replaced, kept, emptied, added) and the files compared; the table inside
    lists them. ``labels`` names studies by UID (e.g. subject and date); a summary over
    the delivery is one group.
    """
    import html

    labels = labels or {}
    if summary.empty:
        return _block([TABLE_CSS, "<small>nothing compared</small>"])
    present = [a for a in ACTIONS if a in summary.columns]
    columns = [c for c in ("series", "attribute", "keyword", "files", *present, "rule")
               if c in summary.columns]
    widths = {"series": 12, "attribute": 22, "keyword": 14, "files": 5, "rule": 25,
              **{a: 5 for a in present}}
    words = {"retained": "kept"}
    groups = (summary.groupby("study_uid", sort=False) if "study_uid" in summary.columns
              else [("", summary)])
    parts = [TABLE_CSS, f"<small>{summary['study_uid'].nunique() if 'study_uid' in summary else 1}"
                        f" group(s), {len(summary)} row(s); open a study to see its attributes"
                        "</small>"]
    for uid, rows in groups:
        main = rows[present].idxmax(axis=1)
        counts = Counter(main)
        line = ", ".join(f"{counts.get(a, 0)} {words.get(a, a)}"
                         for a in ("removed", "replaced", "retained", "emptied", "added")
                         if a in present)
        name = (html.escape(labels[uid]) if uid in labels
                else f"study {short_uid(uid)}" if uid else "the delivery")
        files = int(rows["files"].max()) if "files" in rows else 0
        body_rows = []
        for rec in zip(*(rows[c].tolist() for c in columns)):
            cells = []
            for c, v in zip(columns, rec):
                if c in present and v:
                    cells.append(f'<span style="background-color:{ACTION_COLOURS[c]};'
                                 f'padding:0 4px">{_esc(v)}</span>')
                else:
                    cells.append(_esc(v) if c not in present else '<span style="color:#999">0'
                                 "</span>")
            body_rows.append((cells, ""))
        body = html_table(columns, body_rows, widths)
        parts.append(f'<details class="wb-group"{" open" if open_groups else ""}><summary>'
                     f"<b>{name}</b> &mdash; {rows['attribute'].nunique()} attribute(s): "
                     f"{line} (up to {files} file(s))</summary>{body}</details>")
    return _block(parts)


_STATE_COLOURS = {"kept": "#e8f5e9", "removed": "#f8d7da", "changed": "#fff3cd",
                  "absent": "#eeeeee", "not read": "#f8d7da"}


def pet_check_html(check: pd.DataFrame) -> Rendered:
    """The PET check (:func:`pet_check`) as HTML: SUV inputs first, UIDs last and short."""
    values = check.attrs.get("values", {})
    columns = ["series", *SUV_INPUTS, "SUVbw factor", "problem", "study", "series UID"]
    labels = {**SUV_LABELS, "series UID": "series UID"}
    widths = {"series": 10, **{k: 7 for k in SUV_INPUTS}, "SUVbw factor": 11, "problem": 13,
              "study": 8, "series UID": 8}
    rows = []
    for rec in check.to_dict("records"):
        shown = values.get(rec["series_uid"], {})
        cells = [_esc(rec["series"])]
        for k in SUV_INPUTS:
            state = rec[k]
            before, after = shown.get(k, ("", ""))
            text = before if state == "kept" else (
                f"{before} &rarr; {after}" if state == "changed" else before)
            cells.append(f'<span style="background-color:{_STATE_COLOURS.get(state, "")};'
                         f'padding:0 4px">{_esc(state)}</span>'
                         + (f"<br><small>{_esc(text) if state != 'changed' else text}</small>"
                            if text else ""))
        b, a = rec["suv_before"], rec["suv_after"]
        factor = (f"{b:.6g}" if b == b else "cannot compute") + " &rarr; " + \
            (f"{a:.6g}" if a == a else "cannot compute")
        lost = b == b and not rec["suv_same"]  # computable before, not the same after
        verdict = ("same" if rec["suv_same"] else "<b>differs</b>" if lost
                   else "not computable from the source either")
        cells += [f"{factor}<br><small>{verdict}</small>", _esc(rec["problem"]),
                  short_uid(rec["study_uid"]), short_uid(rec["series_uid"])]
        rows.append((cells, "background-color:#f8d7da" if lost else ""))
    head = f"<small>{len(check)} PET series; SUVbw factor before &rarr; after</small>"
    return _block([TABLE_CSS, head, html_table(columns, rows, widths, labels=labels)])


# --- PHI scan triage -------------------------------------------------------------------------

#: Value representations that carry names, free text, dates and ages: read these first.
RISKY_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "DA", "DT", "AS", "UC", "UN"})
#: The groups of a triaged PHI scan, in reading order.
PHI_GROUPS = ("files not read", "matches a source identifier", "names, text and dates",
              "codes and UIDs", "times (TM)", "positions and orientation", "image geometry",
              "other numbers")
#: Groups shown collapsed (rarely PHI: read them last).
PHI_COLLAPSED = frozenset(PHI_GROUPS[4:])
#: The source attributes whose values identify a patient (searched for everywhere).
IDENTITY_KEYWORDS = frozenset({
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate",
    "PatientBirthName", "PatientMotherBirthName", "AccessionNumber", "PatientAddress",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "OtherPatientIDsSequence"})
NUMBER_VRS = frozenset({"DS", "IS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"})
_POSITION = re.compile(r"Position|Orientation|Location")
_GEOMETRY = re.compile(r"^(Rows|Columns|PlanarConfiguration|HighBit|PixelRepresentation|"
                       r"SamplesPerPixel|NumberOfFrames)$|Spacing|Bits|Pixel|Thickness|"
                       r"Diameter|Matrix|Window|Rescale")


def source_identifiers(scan: pd.DataFrame) -> list[str]:
    """The identifying values of the source in a PHI scan (names split into their parts)."""
    rows = scan[scan["keyword"].isin(IDENTITY_KEYWORDS)]
    if "before" in rows.columns:
        rows = rows[rows["before"] > 0]
    found = set()
    for value in rows["value"]:
        for part in re.split(r"[\\^=]", str(value)):
            for token in {part.strip(), *part.split()}:
                token = token.strip(" ,.")
                if len(token) >= (5 if any(ch.isdigit() for ch in token) else 3):
                    found.add(token)
    return sorted(found, key=lambda t: (-len(t), t))


def phi_triage(scan: pd.DataFrame, identifiers: Iterable[str] | None = None) -> pd.DataFrame:
    """A PHI scan in reading order, with a ``group`` column (one of :data:`PHI_GROUPS`).

    First values that contain one of the source's identifiers (``identifiers``, by
    default :func:`source_identifiers`), then names, free text, dates and ages (VRs of
    :data:`RISKY_VRS`), codes and UIDs; times, positions and orientation, image geometry
    and other numbers last. Within a group, values the output still carries come first.
    """
    table = scan.copy()
    if table.empty:
        table["group"] = []
        return table
    tokens = list(identifiers) if identifiers is not None else source_identifiers(scan)
    values = table["value"].astype(str)
    if tokens:
        pattern = "|".join(re.escape(t) for t in tokens)
        match = values.str.contains(pattern, case=False, regex=True).to_numpy()
    else:
        match = [False] * len(table)
    leaf = [normalise(a).rsplit(".", 1)[-1] for a in table["attribute"]]
    groups = []
    for attribute, keyword, name, vr, hit in zip(table["attribute"], table["keyword"], leaf,
                                                 table["VR"], match):
        keyword = keyword if isinstance(keyword, str) and keyword else name
        if attribute == UNREADABLE:
            groups.append(PHI_GROUPS[0])
        elif hit:
            groups.append(PHI_GROUPS[1])
        elif vr in RISKY_VRS:
            groups.append(PHI_GROUPS[2])
        elif vr == "TM":
            groups.append(PHI_GROUPS[4])
        elif _POSITION.search(keyword):
            groups.append(PHI_GROUPS[5])
        elif _GEOMETRY.search(keyword):
            groups.append(PHI_GROUPS[6])
        elif vr in NUMBER_VRS:
            groups.append(PHI_GROUPS[7])
        else:
            groups.append(PHI_GROUPS[3])
    table["group"] = groups
    rank = {g: n for n, g in enumerate(PHI_GROUPS)}
    order = {"both": 0, "only after": 1, "only before": 2}
    keys = [table["group"].map(rank)]
    if "found" in table.columns:
        keys.append(table["found"].map(order).fillna(3))
    sort = table.assign(**{f"_k{n}": k for n, k in enumerate(keys)})
    sort = sort.sort_values([f"_k{n}" for n in range(len(keys))] + ["attribute", "value"],
                            kind="stable", ignore_index=True)
    return sort.drop(columns=[f"_k{n}" for n in range(len(keys))])


PHI_WIDTHS = {"attribute": 24, "keyword": 14, "VR": 4, "value": 34, "files": 6, "before": 6,
              "after": 6, "found": 8}


def phi_scan_html(table: pd.DataFrame, *, page: int = 1, page_size: int = PAGE_SIZE,
                  open_all: bool = False) -> Rendered:
    """A triaged PHI scan (:func:`phi_triage`) as HTML: counts per group, one page of rows.

    The page's rows are shown per group, each a ``<details>``: open for the groups worth
    reading, collapsed for times, positions, geometry and numbers (``open_all`` opens all).
    """
    if "group" not in table.columns:
        table = phi_triage(table)
    columns = [c for c in (*PHI_COLUMNS, "files", "before", "after", "found")
               if c in table.columns]
    page, pages, start, stop = page_bounds(len(table), page, page_size)
    counts = table["group"].value_counts()
    tally = " &middot; ".join(f"{g}: {counts[g]}" for g in PHI_GROUPS if g in counts)
    head = (f"<small>{showing(len(table), page, page_size, 'distinct value(s)')} of "
            f"{table['attribute'].nunique()} attribute(s)<br>{tally}</small>")
    parts = [TABLE_CSS, head]
    shown = table.iloc[start:stop]
    for group, rows in shown.groupby("group", sort=False):
        records = []
        for rec in zip(*(rows[c].tolist() for c in columns)):
            cells = [_esc(v) for v in rec]
            if "found" in columns and rec[columns.index("found")] == "both":
                cells[columns.index("found")] = \
                    '<span style="background-color:#f8d7da;padding:0 4px">both</span>'
            records.append((cells, ""))
        here = f"{len(rows)} on this page" if len(rows) != counts[group] else "all on this page"
        closed = group in PHI_COLLAPSED and not open_all
        parts.append(f'<details class="wb-group"{"" if closed else " open"}><summary>'
                     f"<b>{_esc(group)}</b> &mdash; {counts[group]} value(s), {here}"
                     f"</summary>{html_table(columns, records, PHI_WIDTHS)}</details>")
    return _block(parts)


# --- timeline of the date shift ----------------------------------------------------------------

TIMELINE_COLUMNS = ["subject", "source_patient", "study_uid", "before", "after"]


def timeline_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each study's date before and after the date shift, one row per study.

    Reads the first source and output file of each study in ``pairs`` (from
    :func:`pair_outputs`). Columns :data:`TIMELINE_COLUMNS`: ``subject`` (the output's
    PatientID), ``source_patient``, ``study_uid`` (the source's), ``before`` and ``after``
    (dates, NaT when a file has none or could not be read).
    """
    import pandas as pd

    done = _with_output(pairs).groupby("study_uid", sort=False).head(1)
    rows = []
    for row in done.itertuples(index=False):
        try:
            old, new = _read(row.source), _read(row.output)
        except ReviewError:
            continue
        rows.append((str(new.get("PatientID", "") or ""), str(old.get("PatientID", "") or ""),
                     row.study_uid, _date(old.get("StudyDate")), _date(new.get("StudyDate"))))
    table = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    for col in ("before", "after"):
        table[col] = pd.to_datetime(table[col], format="%Y%m%d", errors="coerce")
    return table.sort_values(["subject", "before"], ignore_index=True)


def _date(value) -> str | None:
    text = str(value or "").strip()
    return text[:8] if len(text) >= 8 and text[:8].isdigit() else None


def timeline(pairs: pd.DataFrame):
    """A matplotlib Figure of each subject's study dates, before and after the date shift.

    One row per subject (by its output PatientID); the left panel shows the source dates,
    the right the shifted ones. Each study is a dot labelled with its date, placed at the
    days since the subject's first study, so rows line up left and right when the shift
    kept the intervals; the days between studies are written between the dots and the
    title says whether every interval is kept. ``pairs`` are from :func:`pair_outputs`,
    or a table from :func:`timeline_table`.

    Each subject's line has the gid ``"before:<subject>"`` / ``"after:<subject>"``; its
    x data are days since the subject's first study on that side.
    """
    from matplotlib.figure import Figure

    table = pairs if list(pairs.columns) == TIMELINE_COLUMNS else timeline_table(pairs)
    table = table.dropna(subset=["before", "after"])
    subjects = list(dict.fromkeys(table["subject"]))
    fig = Figure(figsize=(11, 1.4 + 0.5 * max(len(subjects), 1)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    changed = []
    for n, subject in enumerate(subjects):
        rows = table[table["subject"] == subject]
        intervals = {}
        for ax, side, colour in zip(axes, ("before", "after"), ("#1f77b4", "#2ca02c")):
            dates = sorted(rows[side])
            days = [float((d - dates[0]).days) for d in dates]
            line, = ax.plot(days, [n] * len(days), "o-", color=colour, markersize=6,
                            linewidth=1.5)
            line.set_gid(f"{side}:{subject}")
            for k, (x, d) in enumerate(zip(days, dates)):  # alternate heights: no overlap
                ax.annotate(d.strftime("%Y-%m-%d"), (x, n), textcoords="offset points",
                            xytext=(0, 6 + 9 * (k % 2)), ha="center", fontsize=7)
            intervals[side] = [round(b - a) for a, b in zip(days, days[1:])]
            for a, b, gap in zip(days, days[1:], intervals[side]):
                ax.annotate(f"{gap} d", ((a + b) / 2, n), textcoords="offset points",
                            xytext=(0, -12), ha="center", fontsize=8)
        if intervals["before"] != intervals["after"]:
            changed.append(subject)
    for ax, title in zip(axes, ("before (source dates)", "after (shifted dates)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("days since the subject's first study", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    axes[0].set_yticks(range(len(subjects)), subjects)
    axes[0].set_ylim(-0.7, max(len(subjects), 1) - 0.3)
    verdict = ("intervals kept for every subject" if not changed
               else f"intervals CHANGED for {', '.join(changed)}")
    fig.suptitle(f"Study dates per subject: {verdict}", fontsize=11)
    return fig

"""Review tables (pandas): what a profile does to every attribute, and why.

Every view of the review is a DataFrame a user can save: the catalog of
studies and series, the tag diff of one instance, the retained / removed /
replaced / emptied summary over a series, study or delivery, the PHI scan of
every distinct value per attribute path, and the PET check of the SUV inputs.
The widgets in :mod:`workbench.widgets` only display these tables.

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

TAG_DIFF_COLUMNS = ["path", "tag", "keyword", "VR", "before", "after", "action", "rule"]


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
        private elements included); ``action`` is one of :data:`ACTIONS`.
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
        rows.append((e.order, path, e.tag, e.keyword, e.vr, a.value if a else None,
                     b.value if b else None, action, rule))
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

SUV_INPUTS = ("weight_kg", "total_dose_bq", "half_life_s", "injection_time", "units",
              "decay_correction")


def pet_check(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per PET series: did the SUV inputs survive, and is the SUVbw factor the same?

    Reads the first instance of each PET series with an output, before and after.

    Returns
    -------
    DataFrame
        ``study_uid``, ``series_uid``, ``series``; per input of :data:`SUV_INPUTS` one of
        ``kept``, ``removed``, ``changed`` or ``absent`` (not in the source either);
        ``suv_before`` and ``suv_after`` (the factor, NaN when it cannot be computed),
        ``suv_same`` and ``problem`` (why the factor cannot be computed after, or why
        the files could not be read).
    """
    import pandas as pd

    from .pet import suv_bw_factor, suv_inputs

    done = _with_output(pairs)
    pet = done[done["modality"] == "PT"].groupby("series_uid", sort=False).head(1)
    rows = []
    for row in pet.itertuples(index=False):
        try:
            ds_old, ds_new = _read(row.source), _read(row.output)
        except ReviewError as exc:  # a row saying why; the check goes on
            rows.append((row.study_uid, row.series_uid, _series_label(row),
                         *["not read"] * len(SUV_INPUTS), float("nan"), float("nan"), False,
                         str(exc)))
            continue
        old, new = _suv_view(suv_inputs(ds_old)), _suv_view(suv_inputs(ds_new))
        state = {k: _survived(old[k], new[k]) for k in SUV_INPUTS}
        factors, problem = [], ""
        for ds in (ds_old, ds_new):
            try:
                factors.append(suv_bw_factor(ds))
            except ValueError as exc:
                factors.append(float("nan"))
                problem = str(exc)
        same = factors[0] == factors[0] and abs(factors[0] - factors[1]) <= 1e-9 * factors[0]
        rows.append((row.study_uid, row.series_uid, _series_label(row), *state.values(),
                     *factors, same, problem))
    return pd.DataFrame(rows, columns=["study_uid", "series_uid", "series", *SUV_INPUTS,
                                       "suv_before", "suv_after", "suv_same", "problem"])


def _suv_view(inputs: dict) -> dict:
    """SUV inputs as compared: the injection as its interval before the reference time."""
    view = {k: inputs[k] for k in SUV_INPUTS if k in inputs}
    inj, ref = inputs["injection_datetime"], inputs["reference_datetime"]
    view["injection_time"] = None if inj is None else (ref - inj if ref else inj.time())
    return view


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

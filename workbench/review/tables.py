"""Catalog tables: the profile's plan, series and studies, and the spot-check sample.

Examples
--------
>>> from workbench.profile import load_profile
>>> plan_table(load_profile("ps315-basic")).columns.tolist()
['tag', 'keyword', 'name', 'basic', 'action', 'rule']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.uid import UID_dictionary

from ..profile import Profile
from ..ps315 import Code, table_rows
from .dicom import _tag

if TYPE_CHECKING:
    import pandas as pd

    from ..catalog import Instance


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
        rows.append((f"({r.group:04X},{el})", "", f"private: {r.creator}", Code.REMOVE,
                     r.action.shown, r.rule))
    df = pd.DataFrame(rows, columns=["tag", "keyword", "name", "basic", "action", "rule"])
    return df.sort_values("tag", kind="stable", ignore_index=True)


def _describe(a) -> str:
    return f"{a.code.shown} {a.value!r}" if a.code == Code.REPLACE else a.code.shown


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

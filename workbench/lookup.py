"""A lookup template: the table a site fills in with the trial's IDs, one row per key.

:func:`template` lists every Patient ID (or accession number, when the profile keys
subjects on AccessionNumber) of a delivery, with the columns the profile needs: the
``subject_id.column`` that holds the trial's ID and the fields its templates take from
lookup rows (e.g. ``site_id``), left empty to be filled in. Columns whose name starts
with ``info_`` (patient name, study dates, accessions) help the person filling it in;
the pipeline never reads them. Filled in, the table is a ``--lookup`` for
``workbench deid`` as it is.

Examples
--------
>>> from workbench.catalog import scan                                  # doctest: +SKIP
>>> instances, _ = scan("delivery")                                     # doctest: +SKIP
>>> template(instances, load_profile("ltp2-jpl")).columns[:3].tolist()  # doctest: +SKIP
['AccessionNumber', 'image_event_id', 'site_id']
"""

from __future__ import annotations

import string
from collections import defaultdict
from typing import Iterable

from .catalog import Instance
from .deid.pseudonyms import INFO_PREFIX
from .errors import WorkbenchError
from .profile import Profile
from .ps315 import Code
from .select import Selector

#: Template fields the pipeline fills itself (never from a lookup row).
BUILT_IN_FIELDS = {"subject_id", "StudyDate", "Modality", "n", "timepoint"}


def _fields(template: str) -> list[str]:
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name:
            names.append(name.split(".")[0].split("[")[0])
    return names


def lookup_columns(profile: Profile) -> list[str]:
    """The columns a lookup table for ``profile`` needs: the key, the subject ID column
    (lookup profiles) and every template field only a lookup row can give, in the order
    the profile names them."""
    rule = profile.subject_id
    key = rule.get("key", "PatientID")
    columns = [key]
    if rule.get("from") == "lookup":
        columns.append(rule["column"])
    templates = [str(rule["prefix"])] if "prefix" in rule else []
    if rule.get("from", "hash") == "sequence" and "prefix" not in rule:
        templates.append("{site_id}-")  # the sequence's default prefix
    derived = set()
    for name, value in profile.trial.items():
        if isinstance(value, str):
            templates.append(value)
            if name not in _fields(value):  # e.g. site_id: "{site_id}" comes from the row
                derived.add(name)
    templates += [str(v) for v in profile.output.values() if isinstance(v, str)]
    templates += [a.value for a in [*profile.attributes.values(), *profile.paths.values()]
                  if a.code == Code.REPLACE and a.value]
    for text in templates:
        for name in _fields(text):
            if name not in BUILT_IN_FIELDS | derived and name not in columns:
                columns.append(name)
    return columns


def subject_keys(instances: Iterable[Instance], profile: Profile) -> dict[str, dict[str, set[str]]]:
    """Key (Patient ID, or accession number when the profile keys on AccessionNumber) ->
    what the series ``profile`` selects say of it: ``patient_id``, ``patient_name``,
    ``study_dates``, ``accessions``, ``modalities`` (sets of values), sorted by key."""
    by_accession = profile.subject_id.get("key", "PatientID") == "AccessionNumber"
    selector = Selector(profile.select)
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for inst in instances:
        k = (inst.accession if by_accession else inst.patient_id) or ""
        if not k or selector.instance_reason(inst):
            continue
        info = seen[k]
        for name, value in (("patient_id", inst.patient_id), ("patient_name", inst.patient_name),
                            ("study_dates", inst.study_date), ("accessions", inst.accession),
                            ("modalities", inst.modality)):
            if value:
                info[name].add(value)
    return {k: seen[k] for k in sorted(seen)}


def template(instances: Iterable[Instance], profile: Profile):
    """A pandas DataFrame to fill in: one row per key among the series ``profile``
    selects, the :func:`lookup_columns` (the key filled in, the rest empty) and
    ``info_`` columns the pipeline ignores (names, study dates, accessions, modalities).

    It holds patient IDs and names: keep it at the site, readable by its owner only.
    """
    import pandas as pd

    columns = lookup_columns(profile)
    key = columns[0]
    if len(columns) == 1:
        raise WorkbenchError(
            f"profile {profile.name} makes subject IDs by {profile.subject_id.get('from', 'hash')}"
            " and its templates take nothing from a lookup row: it needs no lookup table.")
    by_accession = key == "AccessionNumber"
    seen = subject_keys(instances, profile)
    shown = (["patient_id", "patient_name", "study_dates", "modalities"] if by_accession
             else ["patient_name", "study_dates", "accessions", "modalities"])
    rows = [{key: k, **{c: "" for c in columns[1:]},
             **{INFO_PREFIX + name: "; ".join(sorted(seen[k][name])) for name in shown}}
            for k in sorted(seen)]
    return pd.DataFrame(rows, columns=[*columns, *(INFO_PREFIX + name for name in shown)],
                        dtype=str)


def write_template(path, instances: Iterable[Instance], profile: Profile) -> int:
    """Write :func:`template` to ``path`` as UTF-8 CSV readable by its owner only (0600);
    an existing file is refused (it may be a filled-in table). Returns the row count."""
    from .deid.files import owner_only

    table = template(instances, profile)
    try:
        with open(path, "x", newline="", encoding="utf-8", opener=owner_only) as f:
            table.to_csv(f, index=False, lineterminator="\n")
    except FileExistsError:
        raise WorkbenchError(f"{path} exists (it may be a filled-in lookup table): choose "
                             "another name or remove it first.") from None
    except OSError as exc:
        raise WorkbenchError(f"cannot write {path}: {exc}") from exc
    return len(table)

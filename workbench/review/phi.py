"""The PHI scan: every distinct value per attribute path, before and after, triaged."""

from __future__ import annotations

import os
import re
from collections import Counter
from operator import itemgetter
from typing import TYPE_CHECKING, Iterable

from ..errors import ReviewError
from .dicom import normalise
from .render import PAGE_SIZE, TABLE_CSS, Rendered, _block, _esc, html_table, page_bounds, showing
from .values import ValueReader

if TYPE_CHECKING:
    import pandas as pd


PHI_COLUMNS = ["attribute", "keyword", "VR", "value"]
#: The attribute of PHI scan rows that stand for files that could not be read.
UNREADABLE = "(file not read)"
#: Files from which the scan runs in worker processes, and files per worker task.
POOL_FILES = 2000
CHUNK_FILES = 500


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
    files = list(files)
    with _workers(len(files)) as pool:
        return _distinct(files, indexed, progress, pool)


def _workers(files: int):
    """A pool of worker processes for a scan of ``files`` (none for a few files)."""
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext

    workers = min(os.cpu_count() or 1, -(-files // CHUNK_FILES))
    return ProcessPoolExecutor(workers) if files >= POOL_FILES and workers > 1 \
        else nullcontext()


def _distinct(files: list, indexed: bool, progress: bool, pool) -> pd.DataFrame:
    """:func:`distinct_values` in chunks of files, by ``pool`` when there is one."""
    import pandas as pd
    from ..progress import progress_bar

    chunks = [files[n:n + CHUNK_FILES] for n in range(0, len(files), CHUNK_FILES)]
    counts: Counter = Counter()
    info: dict[str, tuple[str, str]] = {}
    with progress_bar(total=len(files), desc="scan values", unit="file",
                      enabled=progress) as bar:
        if pool is not None:
            parts = pool.map(_scan_chunk, chunks, [indexed] * len(chunks))
            for chunk, (part_counts, part_info) in zip(chunks, parts):  # in order
                counts.update(part_counts)
                for name, found in part_info.items():
                    info.setdefault(name, found)
                bar.update(len(chunk))
        else:
            reader = ValueReader(indexed)
            for chunk in chunks:
                _scan(reader, chunk, counts, info)
                bar.update(len(chunk))
    rows = [(name, *info[name], value, n) for (name, value), n in counts.items()]
    table = pd.DataFrame(rows, columns=[*PHI_COLUMNS, "files"])
    return table.sort_values(["attribute", "value"], ignore_index=True)


def _scan(reader: ValueReader, files: list[str], counts: Counter, info: dict) -> None:
    """Count each distinct (name, value) of ``files`` once per file into ``counts``; ``info``
    gets each name's keyword and VR where it is first found."""
    known: set = set()
    for path in files:
        try:
            rows = reader.rows(path)
        except ReviewError as exc:  # listed in the table; the scan goes on
            counts[(UNREADABLE, str(exc))] += 1
            info.setdefault(UNREADABLE, ("", ""))
            continue
        pairs = set(map(_PAIR, rows))
        counts.update(pairs)
        if not pairs <= known:  # else every name of the file is in info already
            for (name, _), keyword, vr in rows:
                info.setdefault(name, (keyword, vr))
            known |= pairs


_PAIR = itemgetter(0)  # a row's (name, value)
_READERS: dict[bool, ValueReader] = {}


def _scan_chunk(files: list[str], indexed: bool) -> tuple[Counter, dict]:
    """:func:`_scan` in a worker process, its decoded values kept for its next chunk."""
    counts: Counter = Counter()
    info: dict = {}
    _scan(_READERS.setdefault(indexed, ValueReader(indexed)), files, counts, info)
    return counts, info


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
    before, after = list(before), list(after)
    with _workers(len(before) + len(after)) as pool:  # one pool: its caches serve both
        old = _distinct(before, indexed, progress, pool)
        new = _distinct(after, indexed, progress, pool)
    table = old.merge(new, on=["attribute", "value"], how="outer", suffixes=("", "_after"))
    for col in ("keyword", "VR"):
        table[col] = table[col].fillna(table.pop(f"{col}_after"))
    table = table.rename(columns={"files": "before", "files_after": "after"})
    table[["before", "after"]] = table[["before", "after"]].fillna(0).astype(int)
    table["found"] = [("both" if a else "only before") if b else "only after"
                      for b, a in zip(table["before"], table["after"])]
    return table.sort_values(["attribute", "value"], ignore_index=True)


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

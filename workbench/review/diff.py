"""What a profile did to each attribute: flattened datasets, the tag diff, the summary.

:func:`flatten` names every element at every depth with the rule that decides it;
:func:`tag_diff` compares one instance before and after, :func:`change_summary` counts
the actions over a series, study or delivery; both render as HTML.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from ..errors import ReviewError
from ..profile import Profile
from ..ps315 import Action
from .dicom import PIXEL_KEYWORDS, _read, _tag, element_name, normalise, value_text
from .pairs import _series_label, _with_output
from .render import (ACTION_COLOURS, ACTIONS, PAGE_SIZE, TABLE_CSS, Rendered, _block, _esc,
                     _row_style, html_table, page_bounds, short_uid, showing)

if TYPE_CHECKING:
    import pandas as pd


#: Attributes the engine writes into every output, and why.
MARKERS = {
    "PatientIdentityRemoved": "de-identification marker (PS3.15 E.1.1)",
    "DeidentificationMethod": "de-identification marker: workbench, profile and its hash",
    "DeidentificationMethodCodeSequence": "de-identification marker: profile and option codes",
    "LongitudinalTemporalInformationModified": "de-identification marker: the date option",
}


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


def _walk(ds: Dataset, prefix: str, order: tuple[int, ...], context: tuple[int, ...],
          out: dict[str, Element], explain: _Explainer) -> None:
    creators = {(t >> 16, t & 0xFF): str(ds[t].value or "") for t in ds.keys()
                if (t >> 16) & 1 and 0x10 <= (t & 0xFFFF) <= 0xFF}
    for elem in ds:
        tag, vr = int(elem.tag), elem.VR
        group, element = tag >> 16, tag & 0xFFFF
        name, keyword, creator = element_name(tag, creators)
        key = (*order, 1, tag)
        if creator is not None:
            rule = explain.private(group, creator, element & 0xFF)
            key = (*order, 1, (group << 16) | 0x1000 | (element & 0xFF))
        elif group & 1:
            rule = ("private creator: kept while one of its elements is kept" if keyword
                    else "private: no creator, removed")
        elif element == 0:
            rule = "group length: retired, never copied"
        elif (group & 0xFF01) in (0x5000, 0x6000):
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

    from ..deid.engine import TRIAL_TAGS

    if isinstance(profile, (str, os.PathLike)):
        from ..profile import load_profile

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
    from ..progress import progress_bar

    if by not in SUMMARY_LEVELS:
        raise ReviewError(f"change_summary: by must be one of {', '.join(SUMMARY_LEVELS)}, "
                          f"not {by!r}.")
    done = _with_output(pairs)
    if per_series is not None:
        done = done.groupby("series_uid", sort=False).head(per_series)
    if isinstance(profile, (str, os.PathLike)):
        from ..profile import load_profile

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


TAG_DIFF_WIDTHS = {"tag": 9, "keyword": 13, "before": 19, "after": 19, "action": 7,
                   "rule": 17, "path": 12, "VR": 4}


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

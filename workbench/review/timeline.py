"""Each subject's study dates before and after the date shift: a table and a figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ReviewError
from .dicom import _read
from .pairs import _with_output

if TYPE_CHECKING:
    import pandas as pd


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

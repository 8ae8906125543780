"""Withdrawn series: what is no longer selected does not stay in the output.

A series de-identified into ``OUT`` and then unticked (no longer selected) is
*withdrawn*: its output files move to ``OUT.withdrawn/<subject>/<study>/<series>/``
(beside ``OUT``, never inside it, so they can never be pushed), their rows leave
the store's verified outputs, and the store's audit log gets a ``withdrawn``
event per series. ``OUT.withdrawn/withdrawn.jsonl`` is the append-only record of
every file moved (from, to, SHA-256). The study's outputs changed, so its
approval no longer matches: it waits for approval again
(:func:`workbench.approval.study_states`).

Output files are mapped back to their source series through their header: the
output SeriesInstanceUID is the profile's keyed remapping of the source one
(``Engine(profile, secret).remap``), so no extra record is needed and outputs
made before withdrawal existed are covered too.

In a notebook, withdraw before de-identifying (and before pushing), after
looking at what goes::

    browser.withdrawn_preview(out, store)        # the series that will be withdrawn
    browser.withdraw(out, store, confirm=True)   # move them; nothing is moved without confirm
    report = deidentify_delivery(...)

:meth:`workbench.widgets.StudyBrowser.withdraw` refuses to move anything without
``confirm=True``. Withdrawal never touches a server: a study pushed before keeps
its series there.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd
from pydicom import dcmread

from .catalog import Instance
from .deid.engine import Engine
from .profile import Profile, load_profile
from .store import Store

RECORD = "withdrawn.jsonl"


@dataclass
class WithdrawnSeries:
    """One output series whose source series is no longer selected.

    ``folder`` is ``<subject>/<study>/<series>`` relative to OUT; ``series_uid`` and
    ``study_uid`` are the output (de-identified) UIDs, ``source_series_uid`` the
    source one; ``files`` the output files (absolute paths).
    """

    folder: str
    subject_id: str
    study_uid: str
    series_uid: str
    source_series_uid: str
    files: list[Path] = field(default_factory=list)


def withdrawn_folder(out: str | os.PathLike) -> Path:
    """``OUT.withdrawn``, beside the output folder."""
    out = Path(out).resolve()
    return out.parent / f"{out.name}.withdrawn"


def _uids(items: Iterable[str | Instance]) -> set[str]:
    return {i if isinstance(i, str) else i.series_uid for i in items}


def _profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile)


def withdrawn_series(store: Store, profile: Profile | str, out: str | os.PathLike,
                     selected: Iterable[str | Instance], *,
                     among: Iterable[str | Instance] | None = None,
                     secret: bytes | None = None) -> list[WithdrawnSeries]:
    """The series under ``out`` that would be withdrawn: their source series is not selected.

    Parameters
    ----------
    store, profile, out
        The store that verified ``out``, the profile it was made with, the output folder.
    selected
        The selected source series: Series Instance UIDs or catalog instances.
    among
        The source series the selection was made from (UIDs or instances, e.g. the
        whole catalog); output series of other sources (another delivery in the same
        OUT) are left alone. None: every output series not selected is withdrawn.
    secret
        The trial secret the output was made with (by default the store's).
    """
    profile = _profile(profile)
    trial = profile.trial_key
    out = Path(out).resolve()
    rows = {p: r for p, r in store.verified_outputs(trial).items()
            if Path(p).is_relative_to(out) and os.path.isfile(p)}
    if not rows:
        return []
    engine = Engine(profile, secret or store.trial_secret(trial))
    keep = {engine.remap(u) for u in _uids(selected)}
    scope = None if among is None else {engine.remap(u): u for u in _uids(among)}
    found: dict[str, WithdrawnSeries] = {}
    for path in sorted(rows):
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        series_uid = str(ds.get("SeriesInstanceUID", "") or "")
        if series_uid in keep or (scope is not None and series_uid not in scope):
            continue
        series = found.get(series_uid)
        if series is None:
            row = rows[path]
            series = found[series_uid] = WithdrawnSeries(
                Path(path).parent.relative_to(out).as_posix(), row["subject_id"],
                row["study_uid"], series_uid, (scope or {}).get(series_uid, ""))
        series.files.append(Path(path))
    return list(found.values())


def preview(series: list[WithdrawnSeries]) -> pd.DataFrame:
    """One row per series that would be withdrawn: folder, subject, files, UIDs."""
    return pd.DataFrame([{"folder": s.folder, "subject_id": s.subject_id, "files": len(s.files),
                          "series_uid": s.series_uid, "source_series_uid": s.source_series_uid,
                          "study_uid": s.study_uid} for s in series],
                        columns=["folder", "subject_id", "files", "series_uid",
                                 "source_series_uid", "study_uid"])


def withdraw(store: Store, profile: Profile | str, out: str | os.PathLike,
             series: list[WithdrawnSeries]) -> list[Path]:
    """Move the series' files to ``OUT.withdrawn`` and take them out of the store.

    Per series, the files are recorded in ``OUT.withdrawn/withdrawn.jsonl`` and
    removed from the store's verified outputs (with a ``withdrawn`` audit event)
    before they move, so an interrupted withdrawal leaves files that no push takes.
    Returns where the files went.
    """
    profile = _profile(profile)
    trial = profile.trial_key
    out = Path(out).resolve()
    target_root = withdrawn_folder(out)
    moved: list[Path] = []
    for s in series:
        files = [f for f in s.files if f.is_file()]
        if not files:
            continue
        plan = [(f, _free(target_root / f.relative_to(out))) for f in files]
        target_root.mkdir(parents=True, exist_ok=True)
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        verified = store.verified_outputs(trial)
        with open(target_root / RECORD, "a", encoding="utf-8") as record:
            for source, target in plan:
                record.write(json.dumps({
                    "at": at, "trial": trial, "series": s.folder, "series_uid": s.series_uid,
                    "study_uid": s.study_uid, "subject_id": s.subject_id,
                    "from": str(source), "to": str(target),
                    "sha256": verified.get(str(source), {}).get("sha256", "")}) + "\n")
        store.withdraw_outputs(trial, [str(f) for f in files], {
            "series": s.folder, "series_uid": s.series_uid, "study_uid": s.study_uid,
            "subject_id": s.subject_id, "files": len(files), "to": str(target_root / s.folder)})
        for source, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)  # a rename on one file system
            moved.append(target)
        _prune(files[0].parent, out)
    return moved


def _free(target: Path) -> Path:
    """``target``, or ``target.2`` (``.3``...) when a file withdrawn before is there."""
    n, candidate = 1, target
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    return candidate


def _prune(folder: Path, out: Path) -> None:
    """Remove the emptied series folder and its emptied parents, up to ``out`` (kept)."""
    while folder != out and out in folder.parents and folder.is_dir() \
            and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent

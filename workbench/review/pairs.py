"""Pairing each source instance with its output file, and reading pairs by series."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import ReviewError
from ..profile import Profile

if TYPE_CHECKING:
    import pandas as pd

    from ..catalog import Instance
    from ..deid.run import Report
    from ..store import Store


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
        from ..deid.engine import Engine
        from ..profile import load_profile

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

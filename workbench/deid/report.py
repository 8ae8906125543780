"""What a run did: its per-study rows, counted as the outcomes come in, and its Report."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..catalog import Skipped
from ..profile import Profile
from ..store import Store
from .delivery import BATCH, Delivery, Outcome
from .worker import Task


@dataclass
class Report:
    """The result of a run: per-study rows, skipped and duplicate files, and per-file outcomes.

    The outcomes are kept in the run's :class:`~workbench.deid.delivery.Delivery`
    (on disk), and read back when asked for.
    """

    profile: str
    profile_hash: str
    out: str
    quarantine: str
    files: Delivery = field(default_factory=Delivery, repr=False)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. ignored lookup rows
    studies: list[dict] = field(default_factory=list)
    by_study: dict[str, dict] = field(default_factory=dict, repr=False)  # source UID -> row

    @property
    def outcomes(self) -> list[Outcome]:
        """What happened to each file that was planned or quarantined."""
        return list(self.files.outcomes())

    @property
    def quarantined(self) -> list[Outcome]:
        return list(self.files.outcomes("quarantined"))

    @property
    def exit_code(self) -> int:
        """0 when everything selected was de-identified and verified, else 2."""
        return 2 if next(self.files.outcomes("quarantined"), None) else 0

    def lines(self) -> list[str]:
        """Per-study summary, then what was skipped and what was quarantined and why (what
        ``workbench deid`` prints)."""
        lines = [f"profile {self.profile} (sha256 {self.profile_hash[:12]}) -> {self.out}"]
        if self.studies:
            width = max(len(r["subject_id"]) for r in self.studies) + 2
            lines.append(f"{'subject':{width}}{'study':22}{'files':>6}{'written':>8}"
                         f"{'unchanged':>10}{'quarantined':>12}  state")
            lines += [f"{r['subject_id']:{width}}{r['study']:22}{r['files']:>6}{r['written']:>8}"
                      f"{r['unchanged']:>10}{r['quarantined']:>12}  {r['state']}"
                      + (f" ({r['reasons']})" if r["reasons"] else "") for r in self.studies]
        series: dict[tuple[str, str], int] = {}
        for s in self.skipped:
            if s.kind == "not-selected":
                key = (os.path.dirname(s.path), s.reason)
                series[key] = series.get(key, 0) + 1
            else:
                lines.append(f"skipped {s.path}: {s.reason}")
        lines += [f"skipped series {folder} ({n} file(s)): {reason}"
                  for (folder, reason), n in sorted(series.items())]
        lines += [f"duplicate skipped: {dup} (identical to {original})"
                  for dup, original in self.duplicates]
        held = self.quarantined
        if held:
            lines.append(f"quarantined {len(held)} file(s) in {self.quarantine} "
                         "(reasons in reasons.jsonl):")
            lines += [f"  {o.source}: {o.reason}" for o in held]
        ok = sum(r["written"] + r["unchanged"] for r in self.studies)
        lines.append(f"{ok} file(s) de-identified and verified, {len(held)} quarantined, "
                     f"{len(self.skipped)} skipped")
        return lines

    def to_json(self) -> dict:
        return {"profile": self.profile, "profile_hash": self.profile_hash, "out": self.out,
                "studies": self.studies, "skipped": [asdict(s) for s in self.skipped],
                "quarantined": [asdict(o) for o in self.quarantined],
                "duplicates": self.duplicates}



class Tally:
    """Per-study rows of a run, counted as its outcomes come in.

    Verified outputs are recorded in the store as they come (a transaction per
    thousand) unless ``outputs`` is False (a batch records them study by study);
    :meth:`close` records the studies and returns their rows.
    """

    def __init__(self, out: Path, profile: Profile, store: Store, outputs: bool = True) -> None:
        self.out, self.profile, self.store, self.record_outputs = out, profile, store, outputs
        self.planned: dict[str, tuple[str, str]] = {}  # study UID -> (subject ID, study folder)
        self.rows: dict[str, dict] = {}
        self.new_uids: dict[str, str] = {}
        self.outputs: list[tuple] = []

    def note(self, task: Task) -> Task:
        """Take a planned task's study (its subject and folder); returns the task."""
        if task.study_uid not in self.planned:
            self.planned[task.study_uid] = (task.subject.subject_id, task.output.split("/")[1])
        return task

    def add(self, o: Outcome) -> None:
        if not o.study_uid:
            return
        row = self.rows.setdefault(o.study_uid, {"files": 0, "written": 0, "unchanged": 0,
                                                 "quarantined": 0, "reasons": set()})
        row["files"] += 1
        row[o.state] += 1
        if o.state == "quarantined":
            row["reasons"].add(o.kind)
            return
        self.new_uids[o.study_uid] = o.study_uid_out
        if not self.record_outputs:
            return
        self.outputs.append((os.path.join(self.out, o.output), o.study_uid_out, o.sop_uid_out,
                             self.planned[o.study_uid][0], o.size, o.mtime_ns, o.digest))
        if len(self.outputs) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.outputs:
            self.store.record_outputs(self.profile.trial_key, self.profile.hash,
                                      self.outputs)
        self.outputs = []

    def close(self) -> dict[str, dict]:
        """Record the outputs left and every study's state; the rows by source study UID."""
        self._flush()
        found = {}
        for uid, counts in self.rows.items():
            subject_id, study = self.planned.get(uid, ("", "(not planned)"))
            reasons = counts.pop("reasons")
            found[uid] = {"subject_id": subject_id, "study": study, **counts,
                          "state": "quarantined" if counts["quarantined"] else "verified",
                          "reasons": "; ".join(sorted(reasons))}
        self.store.set_studies(self.profile.trial_key, [
            (uid, self.new_uids.get(uid, ""), row["subject_id"], row["state"], row["files"],
             row["quarantined"], row["reasons"], self.profile.hash) for uid, row in found.items()])
        return found

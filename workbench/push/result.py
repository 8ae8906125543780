"""What a push did: one outcome per study, the result table and the receipts."""

from __future__ import annotations

import csv
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

if TYPE_CHECKING:
    from .control import PushController

UPLOADED, PRESENT, FAILED, CANCELLED = "uploaded", "already present", "failed", "cancelled"
HELD = "held"  # not sent: waiting for a person's approval, or rejected
TABLE_COLUMNS = ["pseudonym", "study", "files", "status", "reason", "project", "session",
                 "confirmed_by", "seconds"]
RECEIPT_COLUMNS = ["pushed_at", "status", "pseudonym", "study", "study_uid", "files", "bytes",
                   "project", "subject_label", "session_label", "session_uri", "confirmed_by",
                   "files_digest", "profile", "profile_hash", "server", "reason"]


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StudyOutcome:
    """The outcome of one study.

    ``status`` is ``uploaded``, ``already present``, ``failed``, ``held`` (not sent:
    not approved, or rejected) or ``cancelled`` (not started because the push was
    cancelled). ``file_records`` holds, per file, the
    SOP Instance UID, the local MD5 and the file's URI on the server.
    """

    pseudonym: str
    study: str
    study_uid: str
    files: int
    bytes: int
    status: str = FAILED
    reason: str = ""
    project: str = ""
    subject_label: str = ""
    session_label: str = ""
    session_uri: str = ""
    confirmed_by: str = ""
    files_digest: str = ""
    seconds: float = 0.0
    pushed_at: str = ""
    file_records: list[dict[str, str]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """True when the study is on the server and confirmed."""
        return self.status in (UPLOADED, PRESENT)


@dataclass
class PushResult:
    """The outcomes of one push and where its receipts were written.

    Attributes
    ----------
    outcomes
        One :class:`StudyOutcome` per study, in push order.
    receipt_csv, receipt_json
        The receipts of this push.
    """

    outcomes: list[StudyOutcome]
    receipt_csv: Path
    receipt_json: Path
    _retry: Callable[[list[str], PushController | None], PushResult] = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """One row per study: pseudonym, study, files, status, reason, project, session, ..."""
        rows = [{**asdict(o), "session": o.session_label, "seconds": round(o.seconds, 2)}
                for o in self.outcomes]
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    @property
    def failed(self) -> list[StudyOutcome]:
        """Studies that failed or were not started."""
        return [o for o in self.outcomes if not o.done]

    @property
    def exit_code(self) -> int:
        """0 when every study is uploaded or already present, else 2."""
        return 2 if self.failed else 0

    def retry_failed(self, controller: PushController | None = None) -> PushResult:
        """Push again the studies that failed or were cancelled (a new push, new receipts).

        Parameters
        ----------
        controller
            Controller for the retry; by default a new one (the old one may be cancelled).
        """
        from .control import PushController

        return self._retry([o.study for o in self.failed], controller or PushController())


def write_receipts(folder: Path, header: dict[str, Any],
                   outcomes: list[StudyOutcome]) -> tuple[Path, Path]:
    """Write ``push-<time>-<id>.csv`` and ``.json`` into ``folder``; return both paths.

    The CSV has one row per study; the JSON adds the push's settings and, per study,
    every file's SOP Instance UID, MD5 and server URI. Neither holds patient identity
    or credentials: only pseudonyms, output UIDs, labels and digests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"push-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    shared = {key: header[key] for key in ("profile", "profile_hash", "server")}
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, RECEIPT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for outcome in outcomes:
            writer.writerow({**asdict(outcome), **shared})
    document = {**header, "studies": [asdict(o) for o in outcomes]}
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path

"""What an XNAT project holds, read back from the server: one row per scan."""

from __future__ import annotations

import pandas as pd

from ..errors import PushError
from .xnat_server import Server, public_url

COLUMNS = ["subject", "session", "date", "study_uid", "scan", "modality", "description",
           "files", "megabytes"]


def server_listing(url: str, project: str, login: tuple[str, str] | None = None
                   ) -> pd.DataFrame:
    """List the subjects, sessions and scans of ``project`` with their DICOM file counts.

    ``login`` is ``(user, password)``; by default the credentials come from
    ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc`` as for a push.

    Examples
    --------
    >>> server_listing("http://127.0.0.1:8080", "ANIMATE")        # doctest: +SKIP
    """
    rows = []
    server = Server(url, (10.0, 120.0), login)  # a refused login or no server: a PushError
    with server.session as session:
        if project not in session.projects:
            raise PushError(f"project {project} not found on {public_url(url)} or not "
                            "visible to this user; check the project ID or ask for access")
        for subject in session.projects[project].subjects.values():
            for experiment in subject.experiments.values():
                for scan in experiment.scans.values():
                    files = [f for resource in scan.resources.values() if resource.label == "DICOM"
                             for f in resource.files.values()]
                    rows.append({
                        "subject": subject.label, "session": experiment.label,
                        "date": str(experiment.date or ""), "study_uid": experiment.uid,
                        "scan": scan.id, "modality": scan.modality or "",
                        "description": scan.series_description or "", "files": len(files),
                        "megabytes": round(sum(int(f.size or 0) for f in files) / 1e6, 2)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["subject", "session", "scan"], ignore_index=True)

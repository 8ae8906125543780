"""Moving staged DICOM sessions into the prearchive or the archive, with XNAT's conflict rules."""

from __future__ import annotations

import os
import shutil

from .dicomimport import StagedSession
from .store import SandboxError, Record, Store, timestamp

PRE_EXISTS = "Session already exists, retry with overwrite enabled"
UID_MOD = "Invalid modification of session UID via archive process."
PROJ_MOD = "Invalid modification of session project via archive process."
SUBJECT_MOD = "Invalid modification of session subject via archive process."
MODALITY_MOD = ("Invalid modification of session modality via archive process.  "
                "Data may require a manual merge.")
OVERWRITE_MODES = ("none", "append", "delete")
BAD_OVERWRITE = "Overwrite flag was not set to a valid option"


def check_overwrite(value: str) -> str:
    """Validate an ``overwrite`` parameter (none, append, delete)."""
    if value not in OVERWRITE_MODES:
        raise SandboxError(400, BAD_OVERWRITE)
    return value


def prearchive_row(entry: Record) -> dict[str, str]:
    """Listing row of a prearchive entry (the fields XNAT returns)."""
    return {key: value for key, value in entry.items() if key not in ("session", "uploader")}


def to_prearchive(store: Store, staged: StagedSession, project_id: str, subject: str, label: str,
                  status: str, uploader: str) -> Record:
    """Move a staged session into the prearchive and register it.

    Returns
    -------
    dict
        The new prearchive entry; its ``url`` is the prearchive URI without ``/data``.
    """
    with store.lock:
        stamp = store.new_prearchive_stamp(project_id, label)
        now = timestamp()
        entry = {
            "project": project_id, "subject": subject, "name": label, "folderName": label,
            "timestamp": stamp, "url": f"/prearchive/projects/{project_id}/{stamp}/{label}",
            "status": status, "tag": staged.fields.get("UID", ""), "autoarchive": "Manual",
            "prevent_anon": "false", "prevent_auto_commit": "false",
            "scan_date": staged.fields.get("date", ""), "scan_time": staged.fields.get("time", ""),
            "uploaded": now, "lastmod": now, "TIMEZONE": "", "SOURCE": "", "VISIT": "",
            "PROTOCOL": "", "session": staged.to_record(), "uploader": uploader,
        }
        target = store.prearchive_path(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.root, target)
        store.add_prearchive(entry)
        return entry


def archive_status(store: Store, project_id: str, label: str) -> str:
    """Prearchive status of a session: CONFLICT if its label is taken in the archive, else READY."""
    return "CONFLICT" if store.find_experiment(project_id, label) is not None else "READY"


def _check_merge(store: Store, existing: Record, staged: StagedSession, project: Record,
                 subject_label: str, overwrite: str) -> None:
    if overwrite == "none":
        raise SandboxError(409, PRE_EXISTS)
    if existing["project"] != project["ID"]:
        raise SandboxError(409, PROJ_MOD)
    if existing["xsiType"] != staged.xsi_type:
        raise SandboxError(409, MODALITY_MOD)
    old_uid, new_uid = existing["fields"].get("UID"), staged.fields.get("UID")
    if old_uid and new_uid and old_uid != new_uid:
        raise SandboxError(409, UID_MOD)
    owner = store.data["subjects"][existing["subject_ID"]]
    if owner["label"].lower() != subject_label.lower():
        raise SandboxError(
            409, f"{SUBJECT_MOD}: {existing['label']} Already Exists for another Subject")


def _free_scan_id(experiment: Record, scan: dict) -> str:
    """Scan ID for a staged scan: its own, or ``<id>-<MOD><n>`` if taken by another series."""
    current = experiment["scans"].get(scan["ID"])
    if current is None or current["fields"].get("UID") in (None, scan["fields"].get("UID")):
        return scan["ID"]
    modality = scan["fields"].get("modality", "OT")[:2]
    number = 1
    while f"{scan['ID']}-{modality}{number}" in experiment["scans"]:
        number += 1
    return f"{scan['ID']}-{modality}{number}"


def to_archive(store: Store, staged: StagedSession, project: Record, subject_label: str,
               label: str, overwrite: str, login: str) -> Record:
    """Archive a staged session as ``project/subject_label/label``.

    Parameters
    ----------
    overwrite
        ``none`` refuses an existing session (409); ``append`` adds new scans and files and
        keeps existing files; ``delete`` replaces the files of the scans being uploaded.

    Returns
    -------
    dict
        The experiment record.
    """
    if not subject_label:
        raise SandboxError(400, "Unable to identify subject.")
    with store.lock:
        pid = project["ID"]
        existing = store.find_experiment(pid, label)
        if existing is not None:
            _check_merge(store, existing, staged, project, subject_label, overwrite)
            experiment = existing
        else:
            subject = store.find_subject(pid, subject_label) or next(
                (s for s in store.project_subjects(pid)
                 if store.subject_label(s, pid).lower() == subject_label.lower()), None)
            if subject is None:
                subject = store.create_subject(project, subject_label, login)
            experiment = store.create_experiment(project, subject, label, staged.xsi_type, login,
                                                 staged.fields)
        for scan in staged.scans:
            scan_id = _free_scan_id(experiment, scan)
            replace = overwrite == "delete" or scan_id not in experiment["scans"]
            store.put_scan(experiment, scan_id, scan["xsiType"], scan["fields"] if replace else {})
            owner = ("scan", experiment["ID"], scan_id)
            resource = store.find_resource(owner, "DICOM") or store.create_resource(
                owner, "DICOM", "DICOM", "RAW")
            if overwrite == "delete":
                for path in list(resource["files"]):
                    store.delete_file(resource, path)
            for name, info in scan["files"].items():
                if name not in resource["files"]:
                    store.add_file(resource, name, staged.file(scan["ID"], name), info["md5"])
            experiment["scans"][scan_id]["fields"]["frames"] = str(len(resource["files"]))
        store.touch()
    shutil.rmtree(staged.root, ignore_errors=True)
    return experiment

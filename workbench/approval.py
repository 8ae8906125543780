"""Study states and the approval gate: only what a person approved leaves the site.

A study is one ``OUT/<subject_id>/<study_dir>`` folder. Its state comes from the
store: de-identified and verified (each selected file verified or quarantined),
then approved or rejected by a person (a sign-off, by whom, when, with a note),
bound to the SHA-256 digests of the study's verified outputs. An approval whose
outputs changed since no longer counts: the study waits again. A rejection
blocks release until a later approval. Every destination asks
:func:`release_refusal` before it sends a study.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ApprovalError
from .store import Store, digest_outputs

WAITING = "waiting for approval"
APPROVED = "approved"
REJECTED = "rejected"
PUSHED = "pushed and confirmed"
#: Push outcomes that mean the server holds the study, confirmed file by file.
_ARRIVED = ("uploaded", "already present")
#: A quarantine kind that keeps a study from approval (see Outcome.kind).
UNAPPROVABLE = "verification failed"
#: A study whose latest trial protocol check failed (see :mod:`workbench.protocol`).
OFF_PROTOCOL = "protocol check failed"


@dataclass
class StudyState:
    """One study folder of an output and where it stands.

    ``state``: waiting for approval, approved, pushed and confirmed (approved, and the
    destination confirmed it), rejected, or not approvable (a file failed
    verification, or the study failed its trial protocol check); ``by``, ``at`` and
    ``note`` are of the latest sign-off; ``protocol`` is the latest protocol check's
    result (pass, warn or fail; "" when not checked).
    """

    folder: str  # <subject_id>/<study_dir>, as status prints it and approve takes it
    subject_id: str
    study_uid: str  # the source StudyInstanceUID, the store's key
    files: int
    quarantined: int
    state: str
    by: str = ""
    at: str = ""
    note: str = ""
    reason: str = ""
    outputs_digest: str = ""
    protocol: str = ""


def trial_of(store: Store, out: str | os.PathLike) -> str:
    """The trial whose verified outputs are in ``out`` (the one the store names)."""
    out = Path(out).resolve()
    prefix = os.path.join(str(out), "")
    trials = {row[0] for row in store.db.execute(
        "SELECT DISTINCT trial FROM outputs WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))}
    if not trials:
        raise ApprovalError(f"the state database {store.path} holds no verified outputs in {out}; "
                            "give the OUT folder of workbench deid, and the same --store.")
    if len(trials) > 1:
        raise ApprovalError(f"{out} holds outputs of several trials ({', '.join(sorted(trials))}); "
                            "pass --profile to say which.")
    return trials.pop()


def study_states(store: Store, trial: str, out: str | os.PathLike) -> list[StudyState]:
    """Every study with verified outputs under ``out``, in folder order."""
    out = Path(out).resolve()
    by_folder: dict[str, list[dict]] = {}
    by_study: dict[str, list[tuple[str, str]]] = {}  # output study UID -> (path, SHA-256)
    for path, row in store.verified_outputs(trial).items():
        by_study.setdefault(row["study_uid"], []).append((path, row["sha256"]))
        rel = Path(path).relative_to(out).parts if Path(path).is_relative_to(out) else ()
        if len(rel) >= 3:
            by_folder.setdefault("/".join(rel[:2]), []).append(row)
    studies = {s["new_study_uid"]: s for s in store.studies(trial)}
    signed = {s["study_uid"]: s for s in store.sign_offs(trial, latest=True)}
    checks = store.protocol_checks(trial)
    arrived = {}  # output study UID -> where the last confirmed push put it
    for event in store.audit_log(trial, "push-study"):
        detail = json.loads(event["detail"])
        if detail.get("status") in _ARRIVED:
            arrived[detail["study_uid"]] = f"{detail['project']}/{detail['session']}"
    found = []
    for folder, rows in sorted(by_folder.items()):
        study = studies.get(rows[0]["study_uid"], {})
        source_uid = study.get("study_uid", "")
        digest = digest_outputs(by_study[rows[0]["study_uid"]])
        state = StudyState(folder, rows[0]["subject_id"], source_uid, study.get("files") or 0,
                           study.get("quarantined") or 0, WAITING, reason=study.get("detail") or "",
                           outputs_digest=digest)
        sign = signed.get(source_uid)
        check = checks.get(source_uid)
        state.protocol = check["result"] if check else ""
        if UNAPPROVABLE in (state.reason or "").split("; "):
            state.state = f"not approvable ({UNAPPROVABLE})"
        elif state.protocol == "fail":
            state.state = f"not approvable ({OFF_PROTOCOL})"
            state.reason = f"{check['protocol']}: {check['failed']}"
        elif sign is not None:
            state.by, state.at, state.note = sign["reviewer"], sign["at"], sign["note"]
            if sign["verdict"] == REJECTED:
                state.state = REJECTED
            elif sign.get("outputs_digest") == digest:
                state.state = APPROVED
                if rows[0]["study_uid"] in arrived:
                    state.state = PUSHED
                    state.reason = f"on {arrived[rows[0]['study_uid']]}"
            else:
                state.reason = "its outputs changed after the approval; approve it again"
        found.append(state)
    return found


def states_table(states: list[StudyState]):
    """The studies as a table (what ``workbench status`` prints and the app shows)."""
    import pandas as pd

    return pd.DataFrame([{"study": s.folder, "pseudonym": s.subject_id, "state": s.state,
                          "by": s.by, "when": s.at, "files": s.files,
                          "quarantined": s.quarantined, "protocol": s.protocol,
                          "reason": s.note or s.reason}
                         for s in states])


def _chosen(states: list[StudyState], targets: list[str], every: bool) -> list[StudyState]:
    if every:
        return states
    chosen, unknown = [], []
    for target in targets:
        target = target.strip("/")
        hit = [s for s in states if s.folder == target or s.subject_id == target]
        if hit:
            chosen.extend(hit)
        else:
            unknown.append(target)
    if unknown:
        known = ", ".join(s.folder for s in states[:5]) or "none"
        raise ApprovalError(f"no study {', '.join(unknown)} in this output; give a study folder "
                            f"as workbench status prints it (e.g. {known}) or a subject ID.")
    if not chosen:
        raise ApprovalError("name the studies to sign off (SUBJECT/STUDY or a subject ID), "
                            "or pass --all.")
    return list({s.folder: s for s in chosen}.values())


def sign(store: Store, trial: str, out: str | os.PathLike, targets: list[str], verdict: str,
         by: str, note: str = "", every: bool = False) -> list[StudyState]:
    """Approve or reject studies of ``out`` (folders or subject IDs, or ``every`` one).

    An approval binds to the digests of each study's verified outputs; a study
    with a file that failed verification cannot be approved, and a rejection needs
    a note saying why. Returns the studies as they stand after.
    """
    if not (by or "").strip():
        raise ApprovalError("say who signs off: --by NAME (a reviewer's name, not a patient's).")
    if verdict == REJECTED and not (note or "").strip():
        raise ApprovalError("a rejection needs a note saying why: --note TEXT.")
    states = study_states(store, trial, out)
    chosen = _chosen(states, targets, every)
    if verdict == APPROVED:
        failed = [s.folder for s in chosen if UNAPPROVABLE in s.state]
        if failed:
            raise ApprovalError(f"{', '.join(failed)} cannot be approved: a file failed "
                                "verification; look at its quarantine, fix the input and run "
                                "workbench deid --resume, then approve.")
        off = [s for s in chosen if OFF_PROTOCOL in s.state]
        if off:
            raise ApprovalError(f"{', '.join(s.folder for s in off)} cannot be approved: the "
                                f"trial protocol check failed ({off[0].reason}); fix the "
                                "delivery or ask the trial, check it again, then approve.")
    for s in chosen:
        store.sign_off(trial, s.study_uid, by, verdict, note)
    done = {s.folder for s in chosen}
    return [s for s in study_states(store, trial, out) if s.folder in done]


def release_refusal(state: StudyState | None) -> str | None:
    """Why a study may not leave the site yet (None when it may)."""
    if state is None:
        return "not approved: no approval recorded; run workbench status and workbench approve"
    if state.state in (APPROVED, PUSHED):
        return None
    if state.state == REJECTED:
        return (f"rejected by {state.by} at {state.at}: {state.note}; approve it again only if "
                "the reason is resolved")
    how = f"workbench approve OUT {state.folder} --by NAME"
    return f"not approved: {state.reason or WAITING}; when a person is satisfied, run {how}"

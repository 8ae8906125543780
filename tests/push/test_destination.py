"""The destination interface with a second destination: a folder export confirmed by hashing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from support import PROFILE, Output, deidentify
from workbench.approval import APPROVED, REJECTED, sign
from workbench.profile import load_profile
from workbench.push import KINDS, PushController, PushError, XnatPusher, destination_for
from workbench.push.destination import Destination, Job, Retry, StudyFailed
from workbench.push.local import verified_chunks


TRIAL = load_profile(PROFILE).trial_key


class FolderDestination(Destination):
    """Copy each study's files to ``folder/<subject_id>/<study_dir>``; confirm by SHA-256."""

    def __init__(self, out, profile, *, store, folder: Path, flaky: int = 0, **options):
        super().__init__(out, profile, store=store, **options)
        self.folder, self.flaky = folder, flaky  # flaky: transfers that fail in a way that passes

    def connect(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder.as_uri()

    def locate(self, job: Job) -> Path:
        job.outcome.project, job.outcome.session_label = self.folder.name, job.study.name
        return self.folder / job.study.name

    def transfer(self, job: Job) -> None:
        if self._arrived(job) == {f.sop_uid: f.sha256 for f in job.study.files}:
            return  # already present
        if self.flaky:
            self.flaky -= 1
            raise Retry("the disk was busy")
        staging = job.target.with_name(f".{job.target.name}.part")  # renamed when complete
        try:
            for f in job.study.files:
                (staging / f.name).parent.mkdir(parents=True, exist_ok=True)
                with open(staging / f.name, "wb") as handle:
                    for chunk in verified_chunks(f):
                        handle.write(chunk)
        except BaseException:
            shutil.rmtree(staging)
            raise
        shutil.rmtree(job.target, ignore_errors=True)
        staging.rename(job.target)
        job.sent = True

    def confirm(self, job: Job) -> None:
        arrived = self._arrived(job)
        wrong = [f.name for f in job.study.files if arrived.get(f.sop_uid) != f.sha256]
        if wrong:
            raise StudyFailed(f"{len(wrong)} file(s) differ in {job.target}")
        job.outcome.confirmed_by = "sha256"
        job.outcome.file_records = [
            {"sop_uid": f.sop_uid, "md5": hashlib.md5((job.target / f.name).read_bytes())
             .hexdigest(), "uri": (job.target / f.name).as_uri()} for f in job.study.files]

    @staticmethod
    def _arrived(job: Job) -> dict[str, str]:
        """SOP Instance UID -> SHA-256 of each file of the study in the folder."""
        return {f.sop_uid: hashlib.sha256((job.target / f.name).read_bytes()).hexdigest()
                for f in job.study.files if (job.target / f.name).is_file()}


def export(output: Output, tmp_path: Path, **options) -> FolderDestination:
    return FolderDestination(output.out, PROFILE, store=output.store, folder=tmp_path / "export",
                             receipts=tmp_path / "receipts", progress=False, retry_wait=0.0,
                             **options)


def exported(tmp_path: Path) -> list[str]:
    return sorted(f"{p.parent.name}/{p.name}" for p in (tmp_path / "export").glob("*/*"))


@pytest.fixture
def waiting(planted, tmp_path) -> Output:
    """A de-identified output nobody has approved yet."""
    return deidentify(planted, tmp_path / "site", approve=False)


def test_the_gate_holds_unapproved_and_rejected_studies(waiting, tmp_path):
    result = export(waiting, tmp_path).push()
    assert set(result.table["status"]) == {"held"} and exported(tmp_path) == []
    first, second = (f"{p.parent.name}/{p.name}" for p in waiting.study_dirs())
    sign(waiting.store, TRIAL, waiting.out, [first], APPROVED, "Dr A. Reviewer")
    sign(waiting.store, TRIAL, waiting.out, [second], REJECTED, "Dr A. Reviewer",
         note="name burned into the PET MIP")
    result = export(waiting, tmp_path).push()
    rows = {o.study: o for o in result.outcomes}
    assert rows[first].status == "uploaded" and rows[first].confirmed_by == "sha256"
    assert rows[second].status == "held" and "name burned into the PET MIP" in rows[second].reason
    assert exported(tmp_path) == [first] and result.exit_code == 2
    receipt = json.loads(result.receipt_json.read_text())
    assert receipt["server"] == (tmp_path / "export").as_uri()
    assert [s["status"] for s in receipt["studies"]] == list(result.table["status"])
    assert receipt["studies"][0]["files_digest"] and result.receipt_csv.is_file()
    events = [e["event"] for e in waiting.store.audit_log(TRIAL)]
    assert events[-4:] == ["push-start", "push-study", "push-study", "push-end"]


def test_a_byte_changed_since_verification_never_confirms(fresh_output, tmp_path):
    victim_study, other = fresh_output.study_dirs()
    victim = next(victim_study.rglob("*.dcm"))
    st, data = victim.stat(), bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and time as verified
    result = export(fresh_output, tmp_path).push()
    bad, good = result.outcomes
    assert bad.status == "failed" and "SHA-256 differs" in bad.reason and not bad.confirmed_by
    assert good.status == "uploaded"
    assert exported(tmp_path) == [good.study]
    assert not list((tmp_path / "export").rglob("*.part"))


def test_cancel_retry_and_a_second_push_finds_everything_present(output, tmp_path):
    control = PushController()
    result = export(output, tmp_path, controller=control,
                    on_study=lambda outcome: control.cancel()).push()
    assert list(result.table["status"]) == ["uploaded", "cancelled"] and result.exit_code == 2
    assert len(exported(tmp_path)) == 1
    retried = result.retry_failed()
    assert [o.study for o in retried.outcomes] == [result.outcomes[1].study]
    assert retried.exit_code == 0 and len(exported(tmp_path)) == 2
    again = export(output, tmp_path).push()
    assert set(again.table["status"]) == {"already present"}
    leftovers = [p.name for p in output.out.parent.iterdir() if ".push-" in p.name]
    assert leftovers == []


def test_pause_holds_the_next_study_until_resumed(output, tmp_path):
    control = PushController()
    results = []
    worker = threading.Thread(target=lambda: results.append(export(
        output, tmp_path, controller=control, on_study=lambda outcome: control.pause()).push()))
    worker.start()
    deadline = time.monotonic() + 30
    while not control.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert control.waiting and len(exported(tmp_path)) == 1
    control.resume()
    worker.join(30)
    assert not worker.is_alive() and list(results[0].table["status"]) == ["uploaded"] * 2


def test_failures_that_may_pass_are_retried(output, tmp_path):
    result = export(output, tmp_path, flaky=1).push()
    assert list(result.table["status"]) == ["uploaded", "uploaded"]
    assert result.outcomes[0].reason == "done on attempt 2 after: the disk was busy"
    given_up = export(output, tmp_path / "again", flaky=5, attempts=2).push(
        only=[result.outcomes[0].study])
    assert given_up.outcomes[0].status == "failed"
    assert given_up.outcomes[0].reason.startswith("the disk was busy (gave up after 2 attempts")


def test_destination_for_builds_a_destination_by_kind(output):
    pusher = destination_for("xnat", output.out, PROFILE, store=output.store,
                             url="http://127.0.0.1:9")
    assert isinstance(pusher, XnatPusher) and isinstance(pusher, Destination)
    assert list(KINDS) == ["xnat"]
    with pytest.raises(PushError, match="unknown destination 'pacs'"):
        destination_for("pacs", output.out, PROFILE, store=output.store)

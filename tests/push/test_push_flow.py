"""De-identify, push to the sandbox XNAT, confirm, share, read back; receipts and refusals."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import pyxnat
from pydicom import dcmread

from support import OWNER, PROFILE, PROJECT, Output, expected_holdings, holdings
from workbench.approval import APPROVED, sign
from workbench.deid.run import deidentify_delivery
from workbench.profile import load_profile
from workbench.push import PushError, push_studies
from workbench.store import Store

from .conftest import connect, \
    imports


def local_files(output: Output) -> dict[str, bytes]:
    """Bytes of every output file by SOP Instance UID."""
    return {row["sop_uid"]: Path(path).read_bytes()
            for path, row in output.store.verified_outputs(load_profile(PROFILE).trial_key).items()
            if Path(path).is_relative_to(output.out)}


def test_push_lands_under_the_profile_labels_and_round_trips(push, output, xnat_server, tmp_path):
    result = push()
    assert list(result.table["status"]) == ["uploaded", "uploaded"]
    assert set(result.table["confirmed_by"]) == {"md5"}
    assert result.exit_code == 0
    assert list(result.table.columns[:5]) == ["pseudonym", "study", "files", "status", "reason"]
    expected = expected_holdings(output)
    assert holdings(xnat_server) == expected

    sent = local_files(output)
    with connect(xnat_server) as session:
        project = session.projects[PROJECT]
        assert sorted(s.label for s in project.subjects.values()) == sorted(
            study.parent.name for study in output.study_dirs())
        for study in output.study_dirs():
            header = dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True)
            experiment = project.subjects[study.parent.name].experiments[
                f"{study.parent.name}_{header.StudyDate}"]  # session_label {subject_id}_{timepoint}
            assert experiment.uid == header.StudyInstanceUID
            target = tmp_path / f"{experiment.label}.zip"
            session.download_zip(f"{experiment.fulluri}/scans/ALL/files", target, verbose=False)
            with zipfile.ZipFile(target) as archive:
                for name in archive.namelist():
                    data = archive.read(name)
                    sop = dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID
                    assert data == sent.pop(sop), name
    assert not sent


def test_second_push_finds_everything_present(push, xnat_server, output):
    push()
    before = len(imports(xnat_server))
    again = push()
    assert list(again.table["status"]) == ["already present", "already present"]
    assert len(imports(xnat_server)) == before
    assert holdings(xnat_server) == expected_holdings(output)


def test_pyxnat_reads_the_pushed_session(push, xnat_server, output):
    result = push()
    row = result.outcomes[0]
    interface = pyxnat.Interface(server=xnat_server.url, user=OWNER[0], password=OWNER[1])
    try:
        experiment = interface.select.project(PROJECT).subject(row.subject_label) \
            .experiment(row.session_label)
        assert experiment.exists()
        scans = sorted(experiment.scans().get())
        assert scans == sorted(expected_holdings(output)[row.session_label])
        files = sum(len(experiment.scan(s).resource("DICOM").files().get()) for s in scans)
        assert files == row.files
    finally:
        interface.disconnect()


def test_confirmation_uses_pixel_data_when_the_site_rewrites_headers(push, xnat_server, output):
    xnat_server.server.faults.site_anonymization = True
    result = push()
    assert list(result.table["status"]) == ["uploaded", "uploaded"]
    assert set(result.table["confirmed_by"]) == {"pixel data"}
    again = push()
    assert list(again.table["status"]) == ["already present", "already present"]
    assert holdings(xnat_server) == expected_holdings(output)


@pytest.mark.parametrize("change", ["touch", "modify", "extra file", "same size and time"])
def test_unverified_study_is_refused_and_the_other_goes(change, push, fresh_output, xnat_server):
    refused, other = fresh_output.study_dirs()
    victim = next(refused.rglob("*.dcm"))
    if change == "same size and time":  # a byte changed, the size and mtime put back
        st, data = victim.stat(), bytearray(victim.read_bytes())
        data[-1] ^= 0xFF
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "touch":
        st = victim.stat()
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    elif change == "modify":
        victim.write_bytes(victim.read_bytes() + b"\0\0")
    else:
        (victim.parent / "notes.txt").write_text("added by hand")
    result = push(fresh_output)
    rows = {o.study: o for o in result.outcomes}
    bad = rows[f"{refused.parent.name}/{refused.name}"]
    assert bad.status == "failed"
    assert bad.reason.startswith("not verified:") and "re-run workbench deid / verify" in bad.reason
    assert rows[f"{other.parent.name}/{other.name}"].status == "uploaded"
    assert result.exit_code == 2
    assert list(holdings(xnat_server)) == [rows[f"{other.parent.name}/{other.name}"].session_label]


def test_sharing_subject_then_session_and_409_on_the_second_share(push, xnat_server):
    result = push(share_to="P2")
    assert set(result.table["status"]) == {"uploaded"}
    with connect(xnat_server) as session:
        shared = session.projects["P2"]
        for row in result.outcomes:
            assert row.subject_label in shared.subjects
            assert row.session_label in shared.experiments
    again = push(share_to="P2")
    assert set(again.table["status"]) == {"already present"}
    conflicts = [path for method, path, status in xnat_server.server.requests
                 if method == "PUT" and "/projects/P2" in path and status == 409]
    assert len(conflicts) == 4  # subject and session of two studies


def test_sharing_into_a_missing_project_is_a_clear_failure(push, xnat_server):
    result = push(share_to="NOWHERE")
    assert set(result.table["status"]) == {"failed"}
    assert all(r.startswith("on the server and confirmed, but sharing into NOWHERE")
               for r in result.table["reason"])
    xnat_server.server.create_project("NOWHERE", owner=OWNER[0])
    assert set(push(share_to="NOWHERE").table["status"]) == {"already present"}


def test_receipts_carry_no_patient_identity(push, planted, output, xnat_server, tmp_path):
    result = push()
    assert result.receipt_csv.parent == tmp_path / "receipts"
    text = result.receipt_csv.read_text() + result.receipt_json.read_text()
    document = json.loads(result.receipt_json.read_text())
    study = document["studies"][0]
    assert study["files_digest"] and study["session_uri"].startswith("/data/projects/ANIMATE/")
    assert len(study["file_records"]) == study["files"]
    assert all(r["md5"] and r["uri"].startswith("/data/") for r in study["file_records"])
    assert document["profile_hash"] == load_profile(PROFILE).hash
    needles = {i["value"] for i in planted.identifiers
               if i["kind"] in ("name", "id", "accession", "address", "phone", "uid", "date")}
    for patient in planted.patients:
        needles |= {patient["patient_id"], patient["name"], patient["ascii_name"]}
        needles |= set(patient["name"].replace("^", " ").split())
    leaks = [n for n in needles if len(n) >= 4 and n.lower() in text.lower()]
    assert not leaks
    assert OWNER[1] not in text and OWNER[0] not in text


def test_receipts_default_beside_the_output_never_inside(output, xnat_server):
    result = push_studies(output.out, PROFILE, store=output.store, url=xnat_server.url,
                          progress=False)
    assert result.receipt_csv.parent == output.out.parent / "out.receipts"
    with pytest.raises(PushError, match="inside the output"):
        push_studies(output.out, PROFILE, store=output.store, url=xnat_server.url,
                     receipts=output.out / "receipts", progress=False)


def test_rt_trial_goes_to_the_site_project_and_is_shared_to_the_trial(planted, xnat_server,
                                                                       tmp_path):
    out, store = tmp_path / "rt-out", Store(tmp_path / "rt.sqlite")
    deidentify_delivery(planted.delivery, out, "rt-trial", store=store,
                        lookup=str(planted.subjects_csv), progress=False)
    sign(store, load_profile("rt-trial").trial_key, out, [], APPROVED, "Test Reviewer", every=True)
    for project in ("SITE01", "SITE02", "RTTQA_TRIAL"):
        xnat_server.server.create_project(project, owner=OWNER[0])
    result = push_studies(out, "rt-trial", store=store, url=xnat_server.url, progress=False,
                          receipts=tmp_path / "receipts")
    assert [o.status for o in result.outcomes] == ["uploaded", "failed"] * 2
    for outcome in result.outcomes:
        header = dcmread(next((out / outcome.study).rglob("*.dcm")), stop_before_pixels=True)
        assert outcome.project == header.ClinicalTrialSiteID  # xnat_project: "{site_id}"
        assert outcome.session_label == outcome.pseudonym  # session_label: "{subject_id}"
        if not outcome.done:  # the follow-up MR: same label, another study
            assert outcome.reason.startswith("label clash: session")
    first = result.outcomes[0]
    with connect(xnat_server) as session:
        trial = session.projects["RTTQA_TRIAL"]
        assert sorted(e.label for e in trial.experiments.values()) == sorted(
            o.session_label for o in result.outcomes if o.done)
        experiment = session.projects[first.project].experiments[first.session_label]
        assert {"RTSTRUCT", "RTPLAN", "RTDOSE"} <= {
            s.modality for s in experiment.scans.values()}

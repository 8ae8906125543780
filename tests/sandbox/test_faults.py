"""Fault switches: failed requests, cut uploads and the site anonymization script."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import requests
import xnat
from xnat.exceptions import XNATResponseError, XNATUploadError


def connect(sandbox):
    return xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password,
                        loglevel="ERROR")


def test_nth_request_fails_with_given_status(sandbox_xnat):
    faults = sandbox_xnat.server.faults
    with connect(sandbox_xnat) as session:
        faults.fail_request(nth=2, status=500)
        session.get("/data/projects")
        with pytest.raises(XNATResponseError, match="status 500"):
            session.get("/data/projects")
        session.get("/data/projects")
        assert faults.pending == 0


def test_failed_import_is_seen_and_retry_works(sandbox_xnat, make_study):
    study = make_study()
    server = sandbox_xnat.server
    server.faults.fail_request(status=502, pattern="POST /data/services/import")
    with connect(sandbox_xnat) as session:
        with pytest.raises(XNATUploadError, match="Status code 502"):
            session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                     experiment="E1")
        assert len(session.projects["P1"].experiments) == 0
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                              experiment="E1")
        assert sorted(experiment.scans.keys()) == ["1", "2"]
    assert ("POST", "/data/services/import", 502) in server.requests


def test_connection_cut_during_upload(sandbox_xnat, make_study):
    study = make_study()
    server = sandbox_xnat.server
    server.faults.cut_body(after_bytes=2048, pattern="/data/services/import")
    with connect(sandbox_xnat) as session:
        with pytest.raises((requests.exceptions.ConnectionError, XNATUploadError)):
            session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                     experiment="E1")
        assert ("POST", "/data/services/import", 0) in server.requests
        assert len(session.projects["P1"].experiments) == 0
        assert session.prearchive.sessions() == []
        assert not any(server.store.tmp_dir.iterdir())
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                              experiment="E1")
        assert experiment.label == "E1"


def test_site_anonymization_rewrites_identity_only(sandbox_xnat, make_study, tmp_path: Path):
    study = make_study(patient="Doe^Jane", patient_id="MRN12345")
    sandbox_xnat.server.faults.site_anonymization = True
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1",
                                              subject="SUBJ01", experiment="SESS01")
        assert experiment.dcm_patient_name == "SUBJ01"
        file = experiment.scans["1"].resources["DICOM"].files["slice000.dcm"]
        target = tmp_path / "stored.dcm"
        file.download(str(target), verbose=False)
    original_bytes = study.files[("1", "slice000.dcm")]
    assert target.read_bytes() != original_bytes
    stored = pydicom.dcmread(target)
    original = pydicom.dcmread(pydicom.filebase.DicomBytesIO(original_bytes))
    assert (str(stored.PatientName), stored.PatientID, stored.StudyDescription) == (
        "SUBJ01", "SESS01", "P1")
    assert str(original.PatientName) == "Doe^Jane"
    assert stored.PixelData == original.PixelData
    assert stored.SOPInstanceUID == original.SOPInstanceUID

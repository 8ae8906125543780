"""The sandbox driven by unmodified pyxnat (CSV listings, Basic auth on every call)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyxnat
from pyxnat.core.errors import OperationalError

from support import SandboxHandle


def interface(sandbox: SandboxHandle, user: str | None = None,
              password: str | None = None) -> pyxnat.Interface:
    return pyxnat.Interface(server=sandbox.url, user=user or sandbox.user,
                            password=password or sandbox.password)


def test_pyxnat_workflow(sandbox_xnat, make_study, tmp_path: Path):
    study = make_study()
    xnat = interface(sandbox_xnat)
    try:
        assert {"P1", "P2"} <= set(xnat.select.projects().get())
        project = xnat.select.project("P3")
        assert not project.exists()
        project.create()
        assert project.exists()

        subject = project.subject("S1")
        subject.create()
        experiment = subject.experiment("E1")
        experiment.create(experiments="xnat:ctSessionData")
        assert experiment.datatype() == "xnat:ctSessionData"
        assert experiment.label() == "E1" and experiment.id().startswith("SANDBOX_E")
        scan = experiment.scan("5")
        scan.create(scans="xnat:ctScanData")
        resource = scan.resource("NIFTI")
        resource.create()
        source = tmp_path / "image.nii"
        source.write_bytes(b"\x00\x01fake nifti\xff" * 50)
        resource.file("image.nii").put(str(source))
        assert resource.files().get() == ["image.nii"]
        copy = tmp_path / "copy.nii"
        resource.file("image.nii").get(str(copy))
        assert copy.read_bytes() == source.read_bytes()

        with open(study.zip_path, "rb") as handle:
            response = xnat.post("/data/services/import", data=handle,
                                 params={"import-handler": "DICOM-zip", "project": "P1",
                                         "subject": "S9", "session": "E9"})
        assert response.status_code == 200
        assert response.text.strip() == "/data/archive/projects/P1/subjects/S9/experiments/E9"
        imported = xnat.select.project("P1").subject("S9").experiment("E9")
        assert sorted(imported.scans().get()) == ["1", "2"]
        dicom = imported.scan("2").resource("DICOM")
        assert sorted(dicom.files().get()) == ["slice000.dcm", "slice001.dcm", "slice002.dcm"]
        got = tmp_path / "slice.dcm"
        dicom.file("slice001.dcm").get(str(got))
        assert got.read_bytes() == study.files[("2", "slice001.dcm")]

        subject9 = xnat.select.project("P1").subject("S9")
        subject9.share("P2", label="S9_P2")
        with pytest.raises(Exception, match="409"):
            subject9.share("P2", label="S9_P2")
        assert [s.label() for s in xnat.select.project("P2").subjects()] == ["S9_P2"]
        imported.share("P2", label="E9_P2")
        shared = xnat.select.project("P2").subject("S9_P2").experiments()
        assert [e.label() for e in shared] == ["E9_P2"]
    finally:
        xnat.disconnect()


def test_pyxnat_wrong_password_is_rejected(sandbox_xnat):
    xnat = interface(sandbox_xnat, password="wrong")
    with pytest.raises(OperationalError, match="Authentication failed"):
        xnat.select.projects().get()
    assert ("GET", "/data/JSESSION", 401) in sandbox_xnat.server.requests


def test_pyxnat_collaborator_cannot_write(sandbox_xnat):
    xnat = interface(sandbox_xnat, user="bob", password="bob-pw")
    try:
        assert "P1" in xnat.select.projects().get()
        assert xnat.select.project("P1").exists()
        with pytest.raises(Exception, match="403"):
            xnat.select.project("P1").subject("NEW").create()
        assert not xnat.select.project("P1").subject("NEW").exists()
    finally:
        xnat.disconnect()

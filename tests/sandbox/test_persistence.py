"""State survives a restart; disconnect ends the session."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import xnat
from xnat.exceptions import XNATResponseError

from support import COLLABORATOR


def connect(sandbox, user=None, password=None):
    return xnat.connect(sandbox.url, user=user or sandbox.user,
                        password=password or sandbox.password, loglevel="ERROR")


def test_data_survives_restart(sandbox_xnat, make_study, tmp_path: Path):
    study = make_study()
    other = make_study(name="other.zip", patient_id="OTHER")
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                              experiment="E1")
        experiment_id = experiment.id
        session.projects["P1"].subjects["S1"].share("P2", label="S1_P2")
        resource = experiment.create_resource("NOTES", format="TXT")
        resource.upload_data("persisted notes", "notes/readme.txt")
        session.services.import_(str(other.zip_path), project="P1", subject="S2",
                                 experiment="E2", destination="/prearchive")

    sandbox_xnat.restart()

    with connect(sandbox_xnat) as session:
        experiment = session.projects["P1"].experiments["E1"]
        assert experiment.id == experiment_id
        assert sorted(experiment.scans.keys()) == ["1", "2"]
        target = tmp_path / "after.dcm"
        experiment.scans["2"].resources["DICOM"].files["slice002.dcm"].download(
            str(target), verbose=False)
        assert target.read_bytes() == study.files[("2", "slice002.dcm")]
        notes = experiment.resources["NOTES"].files["notes/readme.txt"]
        assert notes.open().read() == b"persisted notes"
        assert "S1_P2" in session.projects["P2"].subjects
        assert [s.label for s in session.prearchive.sessions("P1")] == ["E2"]
        assert session.prearchive.sessions("P1")[0].archive().label == "E2"
    with connect(sandbox_xnat, *COLLABORATOR) as session:
        with pytest.raises(XNATResponseError, match="403"):
            session.put("/data/projects/P1/subjects/NEW")


def test_disconnect_ends_the_session(sandbox_xnat):
    session = connect(sandbox_xnat)
    token = session.jsession
    cookie = {"JSESSIONID": token}
    assert requests.get(f"{sandbox_xnat.url}/data/projects", cookies=cookie).status_code == 200
    session.disconnect()
    assert requests.get(f"{sandbox_xnat.url}/data/projects", cookies=cookie).status_code == 401
    assert ("DELETE", "/data/JSESSION", 200) in sandbox_xnat.server.requests

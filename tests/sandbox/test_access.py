"""Login, per-project roles and the refusals XNAT gives (401, 403)."""

from __future__ import annotations

import pytest
import requests
import xnat
from xnat.exceptions import XNATLoginFailedError, XNATResponseError, XNATUploadError

from support import ADMIN, COLLABORATOR, OUTSIDER


def connect(sandbox, user, password):
    return xnat.connect(sandbox.url, user=user, password=password, loglevel="ERROR")


def test_wrong_password_fails_login(sandbox_xnat):
    with pytest.raises(XNATLoginFailedError, match="Login attempt failed. Please try again."):
        connect(sandbox_xnat, sandbox_xnat.user, "not-the-password")
    response = requests.get(f"{sandbox_xnat.url}/data/projects", auth=("alice", "nope"))
    assert response.status_code == 401


def test_collaborator_reads_but_cannot_write(sandbox_xnat, make_study):
    study = make_study()
    with connect(sandbox_xnat, sandbox_xnat.user, sandbox_xnat.password) as owner:
        owner.services.import_(str(study.zip_path), project="P1", subject="S1", experiment="E1")
    with connect(sandbox_xnat, *COLLABORATOR) as session:
        project = session.projects["P1"]
        assert list(project.experiments.keys())
        assert session.access_levels == {"P1": "collaborator"}
        with pytest.raises(XNATResponseError, match="403"):
            session.classes.SubjectData(parent=project, label="NEW")
        with pytest.raises(XNATUploadError, match="403"):
            session.services.import_(str(study.zip_path), project="P1", subject="S2",
                                     experiment="E2")
        with pytest.raises(XNATResponseError, match="403"):
            project.subjects["S1"].delete()
        with pytest.raises(XNATResponseError, match="403"):
            session.put("/data/projects/P1/subjects/S1/experiments/E1/resources/NOTES")
        assert "P2" not in session.projects


def test_non_members_do_not_see_private_projects(sandbox_xnat):
    with connect(sandbox_xnat, *OUTSIDER) as session:
        assert "P1" not in session.projects
        with pytest.raises(XNATResponseError, match="403"):
            session.get("/data/projects/P1")
        with pytest.raises(XNATResponseError, match="403"):
            session.get("/data/projects/P1/subjects")
        sandbox_xnat.server.store.data["projects"]["P1"]["accessibility"] = "protected"
        session.clearcache()
        assert "P1" in session.projects
        with pytest.raises(XNATResponseError, match="403"):
            session.get("/data/projects/P1/experiments")


def test_roles_from_python_and_rest(sandbox_xnat):
    server = sandbox_xnat.server
    server.set_role("P1", "carol", "member")
    with connect(sandbox_xnat, *OUTSIDER) as carol:
        subject = carol.classes.SubjectData(parent=carol.projects["P1"], label="BY_CAROL")
        with pytest.raises(XNATResponseError, match="403"):
            subject.delete()
        with pytest.raises(XNATResponseError, match="403"):
            carol.put("/data/projects/P1/users/Members/bob")
    with connect(sandbox_xnat, sandbox_xnat.user, sandbox_xnat.password) as alice:
        alice.put("/data/projects/P1/users/Owners/carol")
        users = {u.login: u.access_level for u in alice.projects["P1"].users.values()}
        assert users == {"alice": "Owners", "bob": "Collaborators", "carol": "Owners"}
        alice.delete("/data/projects/P1/users/Owners/carol")
        with pytest.raises(XNATResponseError, match="403"):
            alice.post("/xapi/users", json={"username": "dave", "password": "dave-pw"})
    with connect(sandbox_xnat, *ADMIN) as admin:
        admin.post("/xapi/users", json={"username": "dave", "password": "dave-pw"},
                   accepted_status=[201])
        admin.put("/data/projects/P2/users/Members/dave")
    with connect(sandbox_xnat, "dave", "dave-pw") as dave:
        assert list(dave.projects.keys()) == ["P2"]
        assert dave.access_levels == {"P2": "member"}

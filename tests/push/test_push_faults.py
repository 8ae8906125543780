"""Faults injected through the sandbox: each gives a clear reason, and a re-run completes
what is missing without duplicating anything."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from support import COLLABORATOR, OWNER, PROJECT, expected_holdings, holdings
from workbench.push import PushError
from workbench.push.listing import server_listing

from .conftest import connect, imports


def test_wrong_password_stops_before_any_study(push, xnat_server, monkeypatch):
    monkeypatch.setenv("XNAT_PASSWORD", "not-the-password")
    with pytest.raises(PushError, match="refused the login of 'alice'") as caught:
        push()
    assert "not-the-password" not in str(caught.value)
    assert imports(xnat_server) == []


def test_missing_credentials_name_both_sources(push, monkeypatch):
    monkeypatch.delenv("XNAT_PASSWORD")
    with pytest.raises(PushError, match="set XNAT_USER and XNAT_PASSWORD, or add"):
        push()


def test_netrc_login(push, xnat_server, output, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    host = xnat_server.url.split("//")[1]
    netrc.write_text(f"machine {host} login {OWNER[0]} password {OWNER[1]}\n")
    netrc.chmod(0o600)
    monkeypatch.delenv("XNAT_USER")
    monkeypatch.delenv("XNAT_PASSWORD")
    monkeypatch.setenv("NETRC", str(netrc))
    assert push().exit_code == 0
    assert holdings(xnat_server) == expected_holdings(output)


def test_login_given_in_code_wins_over_environment(push, xnat_server, output, monkeypatch):
    """A notebook can pass the login it asked for; the environment's login is not used."""
    monkeypatch.setenv("XNAT_PASSWORD", "not-the-password")
    with pytest.raises(PushError, match="refused the login of 'alice': check the login given"):
        push(login=(OWNER[0], "also-wrong"))
    assert imports(xnat_server) == []
    assert push(login=OWNER).exit_code == 0
    assert holdings(xnat_server) == expected_holdings(output)
    listing = server_listing(xnat_server.url, PROJECT, login=OWNER)
    held = holdings(xnat_server)
    assert listing["files"].sum() == sum(n for scans in held.values() for n in scans.values())


def test_unknown_project_fails_every_study_then_completes(push, xnat_server):
    result = push(project="NOPE")
    assert set(result.table["status"]) == {"failed"}
    assert all("project NOPE not found" in r for r in result.table["reason"])
    xnat_server.server.create_project("NOPE", owner=OWNER[0])
    assert set(push(project="NOPE").table["status"]) == {"uploaded"}
    assert len(holdings(xnat_server, "NOPE")) == 2


def test_collaborator_may_not_upload(push, xnat_server, output, monkeypatch):
    monkeypatch.setenv("XNAT_USER", COLLABORATOR[0])
    monkeypatch.setenv("XNAT_PASSWORD", COLLABORATOR[1])
    result = push()
    assert set(result.table["status"]) == {"failed"}
    assert all("permission denied" in r and "member or owner role" in r
               for r in result.table["reason"])
    monkeypatch.setenv("XNAT_USER", OWNER[0])
    monkeypatch.setenv("XNAT_PASSWORD", OWNER[1])
    assert set(push().table["status"]) == {"uploaded"}
    assert holdings(xnat_server) == expected_holdings(output)


def test_label_clash_fails_that_study_only(push, xnat_server, make_study, output):
    first = push().outcomes[0]
    with connect(xnat_server) as session:
        session.projects[PROJECT].experiments[first.session_label].delete()
        other = make_study()
        session.services.import_(str(other.zip_path), project=PROJECT,
                                 subject=first.subject_label, experiment=first.session_label)
    result = push()
    rows = {o.session_label: o for o in result.outcomes}
    assert rows[first.session_label].status == "failed"
    assert rows[first.session_label].reason.startswith("label clash: session")
    assert "already holds another study" in rows[first.session_label].reason
    assert {o.status for o in result.outcomes if o is not rows[first.session_label]} == {
        "already present"}
    with connect(xnat_server) as session:  # the site renames the clashing session
        experiment = session.projects[PROJECT].experiments[first.session_label]
        session.put(experiment.fulluri, query={"label": "other_study"})
    assert result.retry_failed().outcomes[0].status == "uploaded"
    found = holdings(xnat_server)
    assert found.pop("other_study") == {"1": 3, "2": 3}
    assert found == expected_holdings(output)


@pytest.mark.parametrize("status", [500, 502])
def test_server_error_on_upload_is_retried_after_asking_the_server(status, push, xnat_server,
                                                                   output):
    xnat_server.server.faults.fail_request(status=status, pattern="POST /data/services/import")
    result = push()
    assert set(result.table["status"]) == {"uploaded"}
    assert result.outcomes[0].reason.startswith(f"done on attempt 2 after: uploading: server "
                                                f"error {status}")
    assert imports(xnat_server) == [status, 200, 200]
    assert holdings(xnat_server) == expected_holdings(output)


def test_server_error_with_no_retries_left_then_rerun(push, xnat_server, output):
    xnat_server.server.faults.fail_request(status=502, pattern="POST /data/services/import")
    result = push(attempts=1)
    assert list(result.table["status"]) == ["failed", "uploaded"]
    assert "gave up after 1 attempts; re-run the same push" in result.outcomes[0].reason
    again = push()
    assert list(again.table["status"]) == ["uploaded", "already present"]
    assert holdings(xnat_server) == expected_holdings(output)


def test_lost_answer_after_the_server_archived_is_not_uploaded_twice(push, xnat_server, output):
    xnat_server.server.faults.fail_request(status=502, pattern=r"GET .*/scans/ALL/files$")
    result = push()
    assert list(result.table["status"]) == ["uploaded", "uploaded"]
    assert "listing the session's files: server error 502" in result.outcomes[0].reason
    assert imports(xnat_server) == [200, 200]
    assert holdings(xnat_server) == expected_holdings(output)


@pytest.mark.parametrize("attempts", [3, 1])
def test_connection_dropped_mid_upload(attempts, push, xnat_server, output):
    xnat_server.server.faults.cut_body(after_bytes=4096, pattern="/data/services/import")
    result = push(attempts=attempts)
    first = result.outcomes[0]
    if attempts == 1:
        assert first.status == "failed" and "uploading: the connection failed" in first.reason
        result = result.retry_failed()
    assert {o.status for o in result.outcomes} == {"uploaded"}
    assert imports(xnat_server) == [0, 200, 200]
    assert holdings(xnat_server) == expected_holdings(output)


def test_server_restart_mid_batch(push, xnat_server, output):
    done = []

    def restart(outcome):
        done.append(outcome.status)
        if len(done) == 1:
            xnat_server.restart()

    result = push(on_study=restart)
    assert done == ["uploaded", "uploaded"]
    assert "401" in result.outcomes[1].reason
    assert holdings(xnat_server) == expected_holdings(output)
    assert set(push().table["status"]) == {"already present"}


def test_leftover_prearchive_entry_is_cleared_not_duplicated(push, xnat_server, output,
                                                             tmp_path):
    study = output.study_dirs()[0]
    archive = tmp_path / "leftover.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(study.rglob("*.dcm")):
            handle.write(path, path.relative_to(study).as_posix())
    with connect(xnat_server) as session:
        session.services.import_(str(archive), project=PROJECT, subject="x", experiment="x",
                                 destination="/prearchive")
        assert len(session.prearchive.sessions(PROJECT)) == 1
        push()
        assert session.prearchive.sessions(PROJECT) == []
    assert holdings(xnat_server) == expected_holdings(output)


def test_partial_session_needs_append(push, xnat_server, output, tmp_path: Path):
    first = push().outcomes[0]
    with connect(xnat_server) as session:
        experiment = session.projects[PROJECT].experiments[first.session_label]
        scan = sorted(experiment.scans.values(), key=lambda s: s.id)[0]
        removed = sorted(scan.resources["DICOM"].files.keys())[:2]
        for name in removed:
            scan.resources["DICOM"].files[name].delete()
    result = push()
    assert result.outcomes[0].status == "failed"
    assert f"holds {first.files - 2} of {first.files} files; re-run with --overwrite append" \
        in result.outcomes[0].reason
    assert push(overwrite="append").outcomes[0].status == "uploaded"
    assert holdings(xnat_server) == expected_holdings(output)

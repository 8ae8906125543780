"""Reading back what an XNAT project holds: ``server_listing`` and ``workbench listing``."""

from __future__ import annotations

import pytest

from support import PROJECT, expected_holdings
from workbench.cli import main
from workbench.push import PushError
from workbench.push.listing import server_listing



def test_listing_counts_every_pushed_file_per_scan(push, xnat_server, output):
    assert push().exit_code == 0
    table = server_listing(xnat_server.url, PROJECT)
    found: dict[str, dict[str, int]] = {}
    for row in table.itertuples():
        found.setdefault(row.session, {})[row.scan] = row.files
    assert found == expected_holdings(output)
    assert set(table["modality"]) == {"CT", "PT"}
    assert (table["megabytes"] > 0).all()
    assert table["study_uid"].str.startswith("2.25.").all()


def test_listing_command_prints_the_totals(push, xnat_server, output, capsys):
    push()
    assert main(["listing", "--xnat", xnat_server.url, "--project", PROJECT]) == 0
    files = sum(sum(scans.values()) for scans in expected_holdings(output).values())
    assert f"2 session(s), 4 scan(s), {files} file(s)" in capsys.readouterr().out


def test_unknown_project_is_a_clear_error(xnat_server, capsys):
    with pytest.raises(PushError, match="project NOPE not found"):
        server_listing(xnat_server.url, "NOPE")
    assert main(["listing", "--xnat", xnat_server.url, "--project", "NOPE"]) == 1
    assert "check the project ID" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["password", "url"])
def test_a_refused_login_or_an_unreachable_server_is_one_line(xnat_server, capsys, monkeypatch,
                                                             problem):
    monkeypatch.setenv("XNAT_USER", "owner")
    monkeypatch.setenv("XNAT_PASSWORD", "not-the-password")
    url = xnat_server.url if problem == "password" else "http://127.0.0.1:9"
    assert main(["listing", "--xnat", url, "--project", PROJECT]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert ("refused the login" if problem == "password" else "cannot reach XNAT") in err

"""The ``workbench push`` and ``workbench sandbox`` commands and their exit codes."""

from __future__ import annotations

import pytest

from support import OWNER, PROFILE, expected_holdings, holdings
from workbench.cli import main



def run(output, server, tmp_path, *extra: str) -> int:
    return main(["push", str(output.out), "--profile", PROFILE, "--xnat", server.url,
                 "--store", str(output.store_path), "--receipts", str(tmp_path / "receipts"),
                 *extra])


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")


def test_exit_0_when_all_pushed_or_present(output, xnat_server, tmp_path, capsys):
    assert run(output, xnat_server, tmp_path) == 0
    assert run(output, xnat_server, tmp_path) == 0
    printed = capsys.readouterr().out
    assert "2 uploaded, 0 already present, 0 not pushed" in printed
    assert "0 uploaded, 2 already present, 0 not pushed" in printed
    assert OWNER[1] not in printed
    assert holdings(xnat_server) == expected_holdings(output)


def test_exit_2_when_some_failed(output, xnat_server, tmp_path, capsys):
    assert run(output, xnat_server, tmp_path, "--project", "NOPE") == 2
    assert "re-run the same command" in capsys.readouterr().out


def test_exit_1_on_an_error_that_stops_the_push(output, xnat_server, tmp_path, capsys,
                                                monkeypatch):
    assert main(["push", str(output.out), "--profile", PROFILE,
                 "--store", str(output.store_path)]) == 1
    assert "no XNAT URL: pass --xnat URL" in capsys.readouterr().err
    monkeypatch.setenv("XNAT_PASSWORD", "s3cret-Wr0ng")
    assert run(output, xnat_server, tmp_path) == 1
    captured = capsys.readouterr()
    assert "refused the login of 'alice'" in captured.err
    assert "s3cret-Wr0ng" not in captured.err + captured.out


def test_sandbox_command_hands_its_options_to_the_sandbox(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["sandbox", "--help"])
    assert stopped.value.code == 0
    assert "--data DATA" in capsys.readouterr().out

"""The command line as a user meets it: help for every command, one-line errors, exit codes."""

from __future__ import annotations

import pytest

from workbench.cli import build_parser, main

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "sandbox"])
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and "usage: workbench" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["scan", "{tmp}/nowhere"], "no such file or folder"),
    (["deid", "{tmp}/nowhere", "{tmp}/out", "--profile", "ps315-basic"], "nowhere"),
    (["deid", "{tmp}/src", "{tmp}/out", "--profile", "no-such-profile"], "no-such-profile"),
    (["validate", "{tmp}", "--protocol", "no-such-protocol"], "no-such-protocol"),
    (["status", "{tmp}/out"], "holds no verified outputs"),
    (["profiles", "show", "no-such-profile"], "no-such-profile"),
])
def test_bad_input_is_one_line_in_cli_words_and_exit_1(args, words, tmp_path, capsys,
                                                       monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "state" / "state.sqlite"))
    (tmp_path / "src").mkdir()
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 1 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_shared_options_mean_the_same_everywhere():
    parser = build_parser()
    for command in ("deid", "verify", "push", "batch", "lookup-template"):
        action = next(a for a in parser._subparsers._group_actions[0].choices[command]._actions
                      if "--profile" in a.option_strings)
        assert action.required, command
    for command in ("status", "approve", "reject"):
        action = next(a for a in parser._subparsers._group_actions[0].choices[command]._actions
                      if "--profile" in a.option_strings)
        assert not action.required, command

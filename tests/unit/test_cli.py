"""The command line: only implemented commands, user mistakes as one line and exit status 2."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from floodwall.cli import build_parser
from tests.helpers import clean_env, floodwall


def test_help_lists_only_implemented_commands() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"stack", "db", "topics", "schemas", "produce", "consume", "offsets",
                                     "dlq", "autoscale", "bench", "loadgen", "demo"}  # fmt: skip
    result = floodwall("--help")
    assert result.returncode == 0 and all(name in result.stdout for name in commands.choices)


@pytest.mark.parametrize("group", ["stack", "db", "topics", "schemas", "offsets", "dlq", "loadgen"])
def test_a_command_group_needs_one_of_its_commands(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([group])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"floodwall {group}: error: the following arguments are required: COMMAND" in error
    with pytest.raises(SystemExit):
        build_parser().parse_args([group, "--help"])
    assert "\ncommands:\n  COMMAND\n" in capsys.readouterr().out


def test_stack_help_explains_settings_and_env() -> None:
    result = floodwall("stack", "up", "--help")
    assert result.returncode == 0
    assert "--broker-port" in result.stdout and "FLOODWALL_BROKER_PORT" in result.stdout


def test_bad_setting_is_one_line_exit_2(tmp_path: Path) -> None:
    result = floodwall("stack", "up", "--state-dir", str(tmp_path), "--broker-port", "99999", env=clean_env())
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("floodwall: error: invalid setting broker_port=")


def test_misspelt_env_setting_is_ignored_with_a_one_line_warning(tmp_path: Path) -> None:
    env = {**clean_env(), "FLOODWALL_PARTITONS": "3", "FLOODWALL_X_SERVICE_HOST": "10.0.0.1"}
    result = floodwall("stack", "status", "--state-dir", str(tmp_path), env=env)
    assert result.returncode == 1 and "NOT RUNNING" in result.stdout  # ran: no stack there
    warning = "ignoring FLOODWALL_PARTITONS (did you mean FLOODWALL_PARTITIONS?)"
    assert result.stderr.count(warning) == 1 and "SERVICE_HOST" not in result.stderr


def test_unknown_flag_is_still_refused(tmp_path: Path) -> None:
    result = floodwall("stack", "status", "--state-dir", str(tmp_path), "--partitons", "3")
    assert result.returncode == 2 and "unrecognized arguments: --partitons" in result.stderr


def test_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state_dir = tmp_path / "state"
        result = floodwall(
            "stack", "up", "--state-dir", str(state_dir), "--broker-port", str(port), env=clean_env()
        )
    assert result.returncode == 1, result.stderr
    assert f"port {port} (broker_port (client port), for broker-1) is already in use" in result.stderr
    assert "--broker-port" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1  # one line: nothing started, so no clean-up hint
    assert not (state_dir / "stack.json").exists() or '"pid"' not in (state_dir / "stack.json").read_text()


def test_status_without_stack_says_not_running(tmp_path: Path) -> None:
    result = floodwall("stack", "status", "--state-dir", str(tmp_path / "none"), env=clean_env())
    assert result.returncode == 1
    assert "NOT RUNNING" in result.stdout and "floodwall stack up" in result.stdout


@pytest.mark.parametrize("command", [["stack", "down"], ["stack", "logs"]])
def test_commands_needing_a_stack_say_so(tmp_path: Path, command: list[str]) -> None:
    result = floodwall(*command, "--state-dir", str(tmp_path / "none"), env=clean_env())
    assert result.returncode == 1 and "no stack in" in result.stderr and "Traceback" not in result.stderr


def test_db_migrate_without_target_explains(tmp_path: Path) -> None:
    result = floodwall("db", "migrate", "--state-dir", str(tmp_path / "none"), env=clean_env())
    assert result.returncode == 2 and "FLOODWALL_DATABASE_URL" in result.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `floodwall … | head -1`: the pipe closes under the output. One exit status, no traceback.
    with subprocess.Popen(
        [sys.executable, "-m", "floodwall", "autoscale", "simulate", "--trace", "steady"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
    ) as child:  # fmt: skip
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # before the command writes a line
        stderr = child.stderr.read().decode()
        assert child.wait(120) == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr

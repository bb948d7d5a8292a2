"""Planted secrets never printed: a password in ``kafka_connection``/``kafka_config`` and in
``database_url`` goes through every error path reachable without a stack — bad keys, bad JSON, bad value
types, bad URLs, invalid combinations, unreachable endpoints, misspelt variables, ``--help`` — of the real
``floodwall`` command line; stdout, stderr (file descriptors, so librdkafka's own lines count) and every
log record are searched for it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from floodwall import settings as settings_module
from floodwall.cli import build_parser, main
from tests.helpers import clean_env, floodwall

SECRET = "hunter2-PLANTED"
SASL = {"security.protocol": "SASL_SSL", "sasl.username": "shop", "sasl.password": SECRET}


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cli:
    """``floodwall.cli.main`` in this process, everything it prints or logs collected."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.monkeypatch, self.capfd, self.caplog = monkeypatch, capfd, caplog

    def run(self, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(exit status, stderr, everything: stdout + stderr + log records)."""
        self.caplog.clear()
        with self.monkeypatch.context() as m:
            m.setattr(settings_module, "_WARNED", set(), raising=False)  # every run may warn afresh
            for key in [k for k in os.environ if k.startswith("FLOODWALL_")]:
                m.delenv(key)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            try:
                status = main(list(argv))
            except SystemExit as exc:  # argparse: --help, unknown flags
                status = int(exc.code or 0)
        out, err = self.capfd.readouterr()
        logs = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.caplog.records)
        return status, err, "\n".join([out, err, logs])


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Cli]:
    caplog.set_level(logging.DEBUG)
    yield Cli(monkeypatch, capfd, caplog)


def assert_one_clean_error(status: int, err: str, everything: str, exit_status: int = 2) -> None:
    assert SECRET not in everything
    assert status == exit_status, everything
    assert err.startswith("floodwall: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in everything


# ---- kafka_connection from the environment, from a flag and from the file --------------------------------

BAD_CONNECTIONS = {
    "bad key and bad value type": json.dumps({**SASL, "bad.key": 1}),
    "refused key": json.dumps({**SASL, "client.id": "x"}),
    "secret of the wrong type": json.dumps({"sasl.password": [SECRET]}),
    "nested secret": json.dumps({"ssl.key.pem": {"pem": SECRET}}),
    "key password of the wrong type": json.dumps({"ssl.key.password": {"x": SECRET}, "socket.x": 1}),
    "bad JSON after the secret": json.dumps(SASL)[:-1] + ",",
    "bad JSON inside the secret": json.dumps(SASL)[: json.dumps(SASL).index(SECRET) + len(SECRET)],
    "not an object": json.dumps([SECRET]),
    "a bare string": json.dumps(SECRET),
}
KAFKA_COMMANDS = [["consume"], ["topics", "create"], ["autoscale"], ["offsets", "show"]]


@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("value", BAD_CONNECTIONS.values(), ids=BAD_CONNECTIONS.keys())
def test_kafka_connection_from_the_environment(cli: Cli, command: list[str], value: str) -> None:
    assert_one_clean_error(*cli.run(*command, env={"FLOODWALL_KAFKA_CONNECTION": value}))


@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("value", BAD_CONNECTIONS.values(), ids=BAD_CONNECTIONS.keys())
def test_kafka_connection_from_the_flag(cli: Cli, command: list[str], value: str) -> None:
    assert_one_clean_error(*cli.run(*command, "--kafka-connection", value))


@pytest.mark.parametrize(
    "table",
    [
        f'kafka_connection = {{"sasl.password" = "{SECRET}", "bad.key" = "x"}}',
        f'kafka_connection = "{SECRET}"',
        f'kafka_connection = {{"sasl.password" = ["{SECRET}"]}}',
        f'kafka_conection = {{"sasl.password" = "{SECRET}"}}',  # unknown key in the file: still refused
        f'kafka_connection = {{"sasl.password" = "{SECRET}"',  # not TOML
        f'database_url = "mysql://u:{SECRET}@h/db"',
    ],
)
def test_secrets_in_the_config_file(cli: Cli, tmp_path: Path, table: str) -> None:
    path = tmp_path / "floodwall.toml"
    path.write_text(f"[consumer]\n{table}\n")
    assert_one_clean_error(*cli.run("consume", "--config", str(path)))


@pytest.mark.parametrize(
    "config",
    [
        {**SASL, "acks": "0"},  # invalid combination: a setting the SDK owns
        {**SASL, "client.id": "mine"},
        {"sasl.password": 7},
    ],
    ids=["managed acks", "managed client.id", "wrong type"],
)
def test_producer_kafka_config(cli: Cli, config: dict[str, object], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    by_flag = cli.run("produce", "--kafka-config", json.dumps(config), str(events))
    by_env = cli.run("produce", str(events), env={"FLOODWALL_KAFKA_CONFIG": json.dumps(config)})
    for status, err, everything in (by_flag, by_env):
        assert_one_clean_error(status, err, everything)
        assert "kafka_config" in err


# ---- database_url --------------------------------------------------------------------------------------

BAD_DATABASE_URLS = {
    "URL, port not a number": f"postgresql://shop:{SECRET}@db.internal:five/floodwall",
    "not a libpq URL": f"mysql://shop:{SECRET}@db.internal/floodwall",
    "password without =": f"host=db.internal password {SECRET}",
    "password glued to its key": f"host=db.internal password{SECRET}",
    "quoted password, bad port": f"host=db.internal password='{SECRET} x' port=y",
    "unterminated IPv6 host": f"postgresql://shop:{SECRET}@[db",
}
DB_COMMANDS = [["db", "migrate"], ["consume"], ["offsets", "show"], ["loadgen", "verify"]]


@pytest.mark.parametrize("command", DB_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("url", BAD_DATABASE_URLS.values(), ids=BAD_DATABASE_URLS.keys())
def test_bad_database_url(cli: Cli, command: list[str], url: str) -> None:
    assert_one_clean_error(*cli.run(*command, "--database-url", url))
    assert_one_clean_error(*cli.run(*command, env={"FLOODWALL_DATABASE_URL": url}))


def test_two_bad_settings_at_once(cli: Cli) -> None:
    env = {
        "FLOODWALL_DATABASE_URL": f"postgresql://shop:{SECRET}@db:x/floodwall",
        "FLOODWALL_KAFKA_CONNECTION": json.dumps({**SASL, "bad.key": "x"}),
    }
    status, err, everything = cli.run("consume", "--batch-max-events", "0", env=env)
    assert_one_clean_error(status, err, everything)
    assert "database_url" in err and "kafka_connection" in err and "batch_max_events" in err


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://shop:{secret}@127.0.0.1:{port}/floodwall?connect_timeout=3",
        "host=127.0.0.1 port={port} user=shop password={secret} dbname=floodwall connect_timeout=3",
        "host=127.0.0.1 port={port} user=shop password='{secret}' dbname=floodwall connect_timeout=3",
    ],
)
def test_unreachable_database(cli: Cli, url: str) -> None:
    """A real connection attempt to a port nothing listens on: libpq's refusal, the password masked."""
    status, err, everything = cli.run(
        "db", "migrate", "--database-url", url.format(secret=SECRET, port=free_port())
    )
    assert_one_clean_error(status, err, everything, exit_status=1)
    assert "Connection refused" in err or "connection failed" in err


def test_unreachable_kafka_with_sasl(cli: Cli) -> None:
    """librdkafka's own log lines and the timeout error, with SASL credentials configured."""
    connection = json.dumps({**SASL, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"})
    status, err, everything = cli.run(
        "topics", "create", "--bootstrap-servers", f"127.0.0.1:{free_port()}", "--topics-timeout-s", "1",
        "--kafka-connection", connection,
    )  # fmt: skip
    assert SECRET not in everything and "Traceback" not in everything
    assert status == 1 and "no answer from" in err


def test_misspelt_secret_variables_are_named_not_shown(cli: Cli) -> None:
    env = {
        "FLOODWALL_DATABSE_URL": f"postgresql://shop:{SECRET}@db/floodwall",
        "FLOODWALL_KAFKA_CONECTION": json.dumps(SASL),
    }
    status, _err, everything = cli.run("db", "migrate", "--state-dir", "/nonexistent/floodwall", env=env)
    assert SECRET not in everything
    assert "FLOODWALL_DATABSE_URL (did you mean FLOODWALL_DATABASE_URL?)" in everything
    assert "FLOODWALL_KAFKA_CONECTION (did you mean FLOODWALL_KAFKA_CONNECTION?)" in everything
    assert status == 2  # and then: no database_url, no local stack


# ---- --help --------------------------------------------------------------------------------------------

SECRET_FLAGS = {"--kafka-connection", "--kafka-config", "--database-url"}


def commands_with_secret_flags() -> list[list[str]]:
    """Every (sub)command of the real parser that takes one of ``SECRET_FLAGS``."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        flags = {flag for action in parser._actions for flag in action.option_strings}
        if flags & SECRET_FLAGS:
            found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


def test_the_help_of_every_command_with_secret_flags(cli: Cli) -> None:
    env = {
        "FLOODWALL_KAFKA_CONNECTION": json.dumps(SASL),
        "FLOODWALL_KAFKA_CONFIG": json.dumps(SASL),
        "FLOODWALL_DATABASE_URL": f"postgresql://shop:{SECRET}@db/floodwall",
    }
    commands = commands_with_secret_flags()
    assert len(commands) >= 8 and ["consume"] in commands and ["produce"] in commands
    for command in commands:
        status, _err, everything = cli.run(*command, "--help", env=env)
        assert status == 0 and "usage:" in everything, command
        assert SECRET not in everything, command


# ---- the installed entry point, as a user runs it ------------------------------------------------------


def test_the_real_command_line(tmp_path: Path) -> None:
    env = {**clean_env(), "FLOODWALL_KAFKA_CONNECTION": json.dumps(SASL)[:-1]}
    bad_json = floodwall("consume", env=env)
    bad_url = floodwall("db", "migrate", "--database-url", f"mysql://shop:{SECRET}@db/x", env=clean_env())
    for result in (bad_json, bad_url):
        assert result.returncode == 2 and SECRET not in result.stdout + result.stderr
        assert result.stderr.startswith("floodwall: error: ") and result.stderr.count("\n") == 1
    assert "not valid JSON" in bad_json.stderr and "FLOODWALL_KAFKA_CONNECTION" in bad_json.stderr

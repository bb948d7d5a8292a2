"""Dict-valued flags take JSON: parsed by the real argument parser, loaded into the real settings."""

from __future__ import annotations

import os

import pytest

from floodwall.cli import build_parser
from floodwall.cliargs import settings_from_args
from floodwall.consumers.config import ConsumerSettings
from floodwall.errors import ConfigError
from floodwall.kafkaconn import connection_conf
from floodwall.producers.config import ProducerSettings


@pytest.fixture(autouse=True)
def _no_floodwall_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("FLOODWALL_")]:
        monkeypatch.delenv(key)


def test_kafka_connection_flag_takes_a_json_object() -> None:
    args = build_parser().parse_args(
        ["consume", "--kafka-connection", '{"client.rack": "x", "security.protocol": "SASL_SSL"}']
    )
    settings = settings_from_args(ConsumerSettings, args)
    assert connection_conf(settings.kafka_connection) == {"client.rack": "x", "security.protocol": "SASL_SSL"}


def test_the_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOODWALL_KAFKA_CONNECTION", '{"client.rack": "env"}')
    args = build_parser().parse_args(["consume", "--kafka-connection", '{"client.rack": "flag"}'])
    assert connection_conf(settings_from_args(ConsumerSettings, args).kafka_connection) == {
        "client.rack": "flag"
    }
    monkeypatch.setenv("FLOODWALL_KAFKA_CONNECTION", "{not json")  # still read: reported, not a traceback
    with pytest.raises(ConfigError, match=r"kafka_connection \(from FLOODWALL_KAFKA_CONNECTION\): not valid"):
        settings_from_args(ConsumerSettings, args)


def test_kafka_config_flag_takes_a_json_object() -> None:
    args = build_parser().parse_args(
        ["produce", "--kafka-config", '{"socket.keepalive.enable": "true", "sasl.password": "s"}', "-"]
    )
    conf = settings_from_args(ProducerSettings, args).librdkafka()
    assert conf["socket.keepalive.enable"] == "true" and conf["sasl.password"] == "s"


def test_a_key_the_setting_does_not_allow_is_one_line_naming_it() -> None:
    args = build_parser().parse_args(["consume", "--kafka-connection", '{"client.id": "x"}'])
    with pytest.raises(ConfigError) as err:
        settings_from_args(ConsumerSettings, args)
    message = str(err.value)
    assert "(from --kafka-connection)" in message and "not client.id" in message and "\n" not in message
    assert "'x'" not in message  # values of this setting are never shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"sasl.password": "s3cret', "not valid JSON (Unterminated string"),
        ("sasl.password=s3cret", "not valid JSON (Expecting value; line 1 column 1)"),
        ('["s3cret"]', "must be a JSON object {...}, not a list"),
    ],
)
def test_malformed_json_is_one_line_without_the_value(text: str, problem: str) -> None:
    args = build_parser().parse_args(["consume", "--kafka-connection", text])
    with pytest.raises(ConfigError) as err:
        settings_from_args(ConsumerSettings, args)
    message = str(err.value)
    assert message.startswith("invalid setting kafka_connection (from --kafka-connection): " + problem)
    assert "s3cret" not in message and "\n" not in message


def test_help_says_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["consume", "--help"])
    assert "--kafka-connection JSON" in capsys.readouterr().out

"""Producer settings: the SDK's guarantees cannot be configured away, and secrets never show."""

from __future__ import annotations

import pytest

from floodwall.errors import ConfigError
from floodwall.producers.config import ProducerSettings
from floodwall.settings import load_settings

SECRET = "s3cr3t-value"


def test_idempotent_acks_all_and_no_topic_auto_creation() -> None:
    conf = load_settings(ProducerSettings, {"delivery_timeout_s": 12}).librdkafka()
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["allow.auto.create.topics"] is False
    assert conf["message.timeout.ms"] == 12_000


def test_tls_sasl_pass_through_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FLOODWALL_KAFKA_CONFIG",
        f'{{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.password": "{SECRET}"}}',
    )
    settings = load_settings(ProducerSettings)
    assert settings.librdkafka()["sasl.password"] == SECRET
    assert settings.librdkafka()["security.protocol"] == "SASL_SSL"
    assert SECRET not in repr(settings) and SECRET not in str(settings.redacted())


@pytest.mark.parametrize("key", ["acks", "enable.idempotence", "bootstrap.servers"])
def test_managed_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=f"kafka_config may not set {key}"):
        load_settings(ProducerSettings, {"kafka_config": {key: "0"}})

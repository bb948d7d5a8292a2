"""Connection settings for Floodwall's own Kafka clients: only how to connect, values kept secret."""

from __future__ import annotations

import pytest

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.cli.topics import TopicsSettings
from floodwall.consumers.config import ConsumerSettings
from floodwall.errors import ConfigError
from floodwall.kafkaconn import connection_conf
from floodwall.settings import load_settings

SASL = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "sink",
        "sasl.password": "s3cret", "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"}  # fmt: skip


@pytest.mark.parametrize("settings_class", [ConsumerSettings, AutoscalerSettings, TopicsSettings])
def test_tls_and_sasl_settings_are_taken_and_hidden(
    settings_class: type[ConsumerSettings] | type[AutoscalerSettings] | type[TopicsSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    monkeypatch.setenv("FLOODWALL_KAFKA_CONNECTION", json.dumps(SASL))
    settings = load_settings(settings_class, {})
    assert connection_conf(settings.kafka_connection) == SASL
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


@pytest.mark.parametrize("key", ["enable.auto.commit", "group.id", "acks", "isolation.level"])
def test_delivery_and_commit_semantics_cannot_be_changed(key: str) -> None:
    with pytest.raises(ConfigError, match=f"only connection settings are allowed here.*not {key}"):
        load_settings(ConsumerSettings, {"kafka_connection": {key: "x"}})


def test_every_kafka_client_of_the_services_gets_them(tmp_path: object) -> None:
    from floodwall.autoscaler.actuators.local import LocalFleet
    from floodwall.autoscaler.run import build_actuator, measure_config
    from floodwall.consumers.config import client_config
    from floodwall.consumers.loop import SinkConsumer

    consumer_settings = load_settings(ConsumerSettings, {"kafka_connection": SASL, "metrics_port": 0})
    consumer = SinkConsumer(consumer_settings, "postgresql://unused")  # clients connect lazily
    assert {k: client_config(consumer.settings)[k] for k in SASL} == SASL
    assert {k: consumer._dlq._config[k] for k in SASL} == SASL

    scaler = load_settings(AutoscalerSettings, {"kafka_connection": SASL, "state_dir": str(tmp_path)})
    assert dict(measure_config(scaler).connection) == SASL
    fleet = build_actuator(scaler)
    assert isinstance(fleet, LocalFleet) and fleet.env is not None
    import json

    # to the local consumers by environment, never on their command lines
    assert json.loads(fleet.env["FLOODWALL_KAFKA_CONNECTION"]) == SASL
    assert not any("s3cret" in part for part in fleet.command)

"""``floodwall topics create``: settings reach the admin call; existing topics are reported, not changed."""

from __future__ import annotations

from typing import Any

import pytest

from floodwall.cli import main
from floodwall.cli import topics as topics_cli
from floodwall.topics import TopicOutcome
from tests.helpers import clean_env, floodwall


def test_create_passes_every_setting_to_the_admin_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_ensure(
        bootstrap: str,
        names: list[str],
        partitions: int,
        timeout_s: float,
        replication_factor: int,
        connection: dict[str, str],
        enforced: dict[str, dict[str, str]],
    ) -> list[TopicOutcome]:
        calls.append(
            {
                "enforced": enforced,
                "bootstrap": bootstrap,
                "names": names,
                "partitions": partitions,
                "timeout_s": timeout_s,
                "rf": replication_factor,
                "connection": connection,
            }
        )
        # One topic already existed with another partition count: it must be reported as left alone.
        return [
            TopicOutcome(names[0], "created", partitions),
            TopicOutcome(names[1], "exists", 3),
            TopicOutcome(names[2], "created", partitions),
        ]

    monkeypatch.setattr(topics_cli, "ensure_topics", fake_ensure)
    for key in [k for k in clean_env() if k.startswith("FLOODWALL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLOODWALL_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("FLOODWALL_KAFKA_CONNECTION", '{"security.protocol": "SSL"}')
    status = main(
        [
            "topics",
            "create",
            "--bootstrap-servers",
            "kafka-bootstrap:9092",
            "--partitions",
            "24",
            "--orders-topic",
            "shop.orders",
            "--dlq-topic",
            "shop.dlq",
            "--topics-timeout-s",
            "5",
        ]
    )
    assert status == 0
    assert calls == [
        {
            "bootstrap": "kafka-bootstrap:9092",
            "names": ["shop.orders", "inventory", "shop.dlq"],
            "partitions": 24,
            "timeout_s": 5.0,
            "rf": 3,
            "connection": {"security.protocol": "SSL"},
            "enforced": {"shop.dlq": {"retention.ms": str(14 * 86_400_000)}},  # the documented default
        }
    ]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "topic shop.orders: created, 24 partitions",
        "topic inventory: exists, 3 partitions (not 24: left as it is)",
        "topic shop.dlq: created, 24 partitions, retention 14 days",
    ]


def test_bad_replication_factor_is_one_line_exit_2() -> None:
    result = floodwall("topics", "create", "--replication-factor", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("floodwall: error: invalid setting replication_factor=")


def test_unreachable_broker_is_a_runtime_error_not_a_traceback() -> None:
    # Port 1 on loopback refuses connections: the admin call times out quickly and says where it looked.
    result = floodwall(
        "topics", "create", "--bootstrap-servers", "127.0.0.1:1", "--topics-timeout-s", "2", timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr

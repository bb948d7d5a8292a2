"""``floodwall topics create`` — create the sink's topics on any Kafka cluster (idempotent).

The local stack creates its topics itself; this command is for everything else, e.g. the Helm chart's
pre-install hook Job against a Strimzi cluster.
"""

from __future__ import annotations

import argparse
from typing import ClassVar

from pydantic import Field

from floodwall.cliargs import add_command_group, add_settings_command, settings_from_args
from floodwall.kafkaconn import EventTopicsSettings, TopicName, connection_conf
from floodwall.topics import DEFAULT_DLQ_RETENTION_DAYS, dlq_topic_config, ensure_topics


class TopicsSettings(EventTopicsSettings):
    """Which topics to create, where, and how wide."""

    section: ClassVar[str] = "topics"

    dlq_topic: TopicName = Field("dlq", description="dead-letter topic")
    dlq_retention_days: float = Field(
        DEFAULT_DLQ_RETENTION_DAYS, gt=0, le=3650,
        description="how long the dead-letter topic keeps dead letters (set on existing topics too)",
    )  # fmt: skip
    partitions: int = Field(12, ge=1, le=1024, description="partitions per topic (ceiling on parallelism)")
    replication_factor: int = Field(
        1, ge=1, le=16, description="copies of each partition (1 for a single broker; 3 in production)"
    )
    topics_timeout_s: float = Field(
        30.0, gt=0, le=600, description="how long to wait for the cluster to answer"
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(commands, "topics", help="manage the sink's Kafka topics")
    add_settings_command(
        sub,
        "create",
        TopicsSettings,
        _create,
        help="create the orders, inventory and dead-letter topics (existing ones are kept)",
        description="Create each missing topic with the given partitions and replication factor. "
        "Existing topics are not changed: adding partitions would move keys and break per-key "
        "ordering, so a different partition count is reported, not applied. The one exception: the "
        "dead-letter topic's retention (--dlq-retention-days) is set on it whether new or not.",
    )


def _create(args: argparse.Namespace) -> int:
    s = settings_from_args(TopicsSettings, args)
    outcomes = ensure_topics(
        s.bootstrap_servers,
        [s.orders_topic, s.inventory_topic, s.dlq_topic],
        s.partitions,
        timeout_s=s.topics_timeout_s,
        replication_factor=s.replication_factor,
        connection=connection_conf(s.kafka_connection),
        enforced={s.dlq_topic: dlq_topic_config(s.dlq_retention_days)},
    )
    for t in outcomes:
        note = "" if t.partitions == s.partitions else f" (not {s.partitions}: left as it is)"
        retention = f", retention {s.dlq_retention_days:g} days" if t.name == s.dlq_topic else ""
        print(f"topic {t.name}: {t.outcome}, {t.partitions} partitions{note}{retention}")
    return 0

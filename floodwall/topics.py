"""Create Floodwall's topics through the Kafka admin API (idempotent); delete throwaway ones."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

# NewTopic's documented home is confluent_kafka.admin, whose stub does not re-export it.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from floodwall.errors import FloodwallError
from floodwall.kafkaconn import KAFKA_CLIENT_LOG

DEFAULT_DLQ_RETENTION_DAYS = 14.0
DAY_MS = 86_400_000


def dlq_topic_config(retention_days: float) -> dict[str, str]:
    """The dead-letter topic's own settings: an explicit retention (not the broker's default), long
    enough to notice, fix and replay. Retention counts from the record timestamps, and a dead letter
    keeps its original event's timestamp: a letter of an event already N days old is kept N days less."""
    return {"retention.ms": str(round(retention_days * DAY_MS))}


@dataclass(frozen=True)
class TopicOutcome:
    """What happened to one topic: ``created``, ``exists`` (with its partition count)."""

    name: str
    outcome: str
    partitions: int


def ensure_topics(
    bootstrap_servers: str,
    names: list[str],
    partitions: int,
    timeout_s: float = 15.0,
    replication_factor: int | None = None,
    connection: Mapping[str, str] | None = None,
    config: Mapping[str, str] | None = None,
    enforced: Mapping[str, Mapping[str, str]] | None = None,
) -> list[TopicOutcome]:
    """Create each topic that does not exist yet with ``partitions`` partitions and ``replication_factor``
    copies (None: the cluster's ``default.replication.factor``; a production cluster wants 3) and the
    topic ``config`` given (e.g. ``min.insync.replicas``; unset keys take the broker's defaults).

    Existing topics are left as they are (their partition count is reported, never changed: adding
    partitions would move keys and break per-key ordering), except for the ``enforced`` settings
    ({topic: {key: value}}, e.g. the DLQ's retention): those are given to new topics and set on existing
    ones too (other keys untouched). Raises FloodwallError when the broker cannot be reached or refuses
    a topic or a setting.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "socket.timeout.ms": 5000,
        **(connection or {}),
    }
    conf["logger"] = KAFKA_CLIENT_LOG  # the stubs' value type leaves the logger out
    admin = AdminClient(conf)
    copies = -1 if replication_factor is None else replication_factor  # -1: the broker's default
    enforced = enforced or {}
    new = [NewTopic(name, num_partitions=partitions, replication_factor=copies,
                    config={**(config or {}), **enforced.get(name, {})})
           for name in names]  # fmt: skip
    # Only what is missing goes to the controller: on a running cluster (a restart, `stack up` again)
    # every request here is answered by any broker, so a controller election does not fail it.
    present = _topic_names(admin, bootstrap_servers, timeout_s)
    missing = [topic for topic in new if topic.topic not in present]
    created = _create_topics(admin, bootstrap_servers, missing, timeout_s) if missing else set()
    existing = {name: enforced[name] for name in names if name in enforced and name not in created}
    differing = _differing_configs(admin, bootstrap_servers, existing, timeout_s) if existing else {}
    if differing:
        _set_topic_configs(admin, bootstrap_servers, differing, timeout_s)
    partitions_of = _wait_for_leaders(admin, bootstrap_servers, names, timeout_s)
    return [
        TopicOutcome(name, "created" if name in created else "exists", partitions_of.get(name, 0))
        for name in names
    ]


def led_topics(metadata: ClusterMetadata, names: list[str]) -> dict[str, int]:
    """{topic: partitions} of those ``names`` whose every partition has a leader in ``metadata``."""
    led = {}
    for name in names:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            continue
        if all(p.leader >= 0 and p.error is None for p in topic.partitions.values()):
            led[name] = len(topic.partitions)
    return led


def _topic_names(admin: AdminClient, bootstrap_servers: str, timeout_s: float) -> set[str]:
    """The topics the cluster has. Raises FloodwallError when no broker answers."""
    return set(_metadata(admin, bootstrap_servers, timeout_s).topics)


def _metadata(admin: AdminClient, bootstrap_servers: str, timeout_s: float) -> ClusterMetadata:
    """The cluster's metadata. Raises FloodwallError when no broker answers."""
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        err = exc.args[0]
        reason = err.str() if isinstance(err, KafkaError) else str(err)
        raise FloodwallError(
            f"cannot list topics: no answer from {bootstrap_servers} within {timeout_s:g} s ({reason})"
        ) from None


def _differing_configs(
    admin: AdminClient, bootstrap_servers: str, wanted: Mapping[str, Mapping[str, str]], timeout_s: float
) -> dict[str, dict[str, str]]:
    """Of ``wanted`` ({topic: {key: value}}), the settings the topics do not have yet. Raises
    FloodwallError when the brokers cannot describe them."""
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, name) for name in wanted], request_timeout=timeout_s
    )
    differing: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        try:
            entries = future.result(timeout=timeout_s)
        except (KafkaException, TimeoutError) as exc:
            reason = exc.args[0] if exc.args else f"no answer within {timeout_s:g} s"
            raise FloodwallError(
                f"cannot read the settings of topic {resource.name!r} on {bootstrap_servers}: {reason}"
            ) from None
        have = {key: entry.value for key, entry in entries.items()}
        changes = {k: v for k, v in wanted[resource.name].items() if have.get(k) != v}
        if changes:
            differing[resource.name] = changes
    return differing


class _TransientCreateError(Exception):
    """A create request that failed for a reason that passes: the controller moved, a broker handle was
    replaced while the request was in flight (a cluster whose broker just restarted), a timeout."""


# Codes that a retry a moment later gets past. librdkafka swaps its bootstrap broker handles for the
# learned ones shortly after connecting; a request in flight on a swapped handle fails with
# _DESTROY_BROKER although the cluster is fine (seen on the 3-broker stack right after a broker restart).
_TRANSIENT_CODES = frozenset({
    KafkaError._DESTROY_BROKER, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_CONTROLLER,
    KafkaError.LEADER_NOT_AVAILABLE,
})  # fmt: skip


def _create_topics(
    admin: AdminClient, bootstrap_servers: str, new: list[NewTopic], timeout_s: float
) -> set[str]:
    """The names in ``new`` that this call created (the others existed already). A transient failure is
    retried, for the topics not settled yet, until ``timeout_s`` has passed. Raises FloodwallError when
    the broker does not answer or refuses a topic."""
    created: set[str] = set()
    pending = {topic.topic: topic for topic in new}
    retrying = Retrying(
        retry=retry_if_exception_type(_TransientCreateError),
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                _create_pending(admin, bootstrap_servers, pending, created, timeout_s)
    except _TransientCreateError as exc:
        raise FloodwallError(str(exc)) from None
    return created


def _create_pending(
    admin: AdminClient,
    bootstrap_servers: str,
    pending: dict[str, NewTopic],
    created: set[str],
    timeout_s: float,
) -> None:
    """One CreateTopics round for ``pending``: settled topics leave ``pending`` (the new ones join
    ``created``). Raises _TransientCreateError when some failed for a passing reason, FloodwallError when
    one was refused or unanswered."""
    futures = admin.create_topics(
        list(pending.values()), operation_timeout=timeout_s, request_timeout=timeout_s
    )
    transient = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.add(name)
        except TimeoutError:
            raise FloodwallError(
                f"cannot create topic {name!r}: no answer from {bootstrap_servers} within {timeout_s:g} s"
            ) from None
        except KafkaException as exc:
            err = exc.args[0]
            code = err.code() if isinstance(err, KafkaError) else None
            if code in _TRANSIENT_CODES or (isinstance(err, KafkaError) and err.retriable()):
                transient.append(f"cannot create topic {name!r} on {bootstrap_servers}: {err}")
                continue
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise FloodwallError(f"cannot create topic {name!r} on {bootstrap_servers}: {err}") from None
        del pending[name]
    if transient:
        raise _TransientCreateError("; ".join(transient))


def _set_topic_configs(
    admin: AdminClient, bootstrap_servers: str, configs: Mapping[str, Mapping[str, str]], timeout_s: float
) -> None:
    """Set (IncrementalAlterConfigs SET) the given keys on existing topics. Raises FloodwallError."""
    resources = [
        ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in config.items()
        ])
        for name, config in configs.items()
    ]  # fmt: skip
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout_s)
    for resource, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except (KafkaException, TimeoutError) as exc:
            reason = exc.args[0] if exc.args else f"no answer within {timeout_s:g} s"
            raise FloodwallError(
                f"cannot set {', '.join(configs[resource.name])} on topic {resource.name!r} on "
                f"{bootstrap_servers}: {reason}"
            ) from None


def _wait_for_leaders(
    admin: AdminClient, bootstrap_servers: str, names: list[str], timeout_s: float
) -> dict[str, int]:
    """{topic: partitions} once every partition of ``names`` has a leader in the metadata (or at the
    deadline). A new topic reaches the brokers' metadata caches a moment after its creation is
    acknowledged; a client that used it at once would get "unknown topic" from a broker not yet told."""
    deadline = time.monotonic() + timeout_s
    while True:
        led = led_topics(_metadata(admin, bootstrap_servers, timeout_s), names)
        if len(led) == len(names) or time.monotonic() > deadline:
            return led
        time.sleep(0.1)


def delete_topics(bootstrap_servers: str, names: list[str], timeout_s: float = 15.0) -> list[str]:
    """Delete ``names`` (a topic already gone counts as deleted). Returns a line per topic that could not
    be deleted, saying why; raises nothing, as it cleans up after work that has its own outcome."""
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000}
    conf["logger"] = KAFKA_CLIENT_LOG
    admin = AdminClient(conf)
    problems = []
    for name, future in admin.delete_topics(
        names, operation_timeout=timeout_s, request_timeout=timeout_s
    ).items():
        try:
            future.result(timeout=timeout_s)
        except TimeoutError:
            problems.append(f"{name}: no answer from {bootstrap_servers} within {timeout_s:g} s")
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                problems.append(f"{name}: {err}")
    return problems

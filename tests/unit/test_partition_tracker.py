"""consumers/partitions.py: positions from the stored offsets, revocation, resync, stops and holds —
against a fake Kafka client and a fake table of stored offsets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from floodwall.consumers.dlq import DeadLetterFailed
from floodwall.consumers.metrics import ConsumerMetrics
from floodwall.consumers.partitions import PartitionTracker
from floodwall.consumers.sink import Span
from tests.unit.consumer_fakes import FakeClient

T = TypeVar("T")
TopicPart = tuple[str, int]


class FakeStored:
    def __init__(self, stored: dict[TopicPart, int]) -> None:
        self.stored = stored
        self.reads = 0

    def stored_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        self.reads += 1
        return {p: self.stored[(topic, p)] for p in partitions if (topic, p) in self.stored}


def tracker(
    stored: dict[TopicPart, int], bounds: dict[TopicPart, tuple[int, int]] | None = None
) -> tuple[PartitionTracker, FakeClient, FakeStored, ConsumerMetrics, list[str]]:
    client, table = FakeClient(bounds), FakeStored(stored)
    metrics = ConsumerMetrics.create(CollectorRegistry())
    retried: list[str] = []

    def retry(work: Callable[[], T]) -> T:
        retried.append("retry")
        return work()

    t = PartitionTracker(cast(Consumer, client), metrics, table, retry)
    return t, client, table, metrics, retried


def value(metric: Gauge | Counter) -> float:
    return sum(s.value for m in metric.collect() for s in m.samples if not s.name.endswith("_created"))


def tps(*keys: TopicPart) -> list[TopicPartition]:
    return [TopicPartition(*k) for k in keys]


def test_assigned_partitions_start_at_their_stored_offsets_and_kafka_hears_of_them_once_settled() -> None:
    t, client, _, metrics, retried = tracker({("orders", 0): 40})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    assert client.assigned == {("orders", 0): 40, ("orders", 1): OFFSET_BEGINNING}
    assert t.positions == {("orders", 0): 40} and t.joined and t.rebalanced and retried
    assert client.commits == []  # no blocking client call inside a rebalance callback
    assert (t.settle(), t.rebalanced) == (2, False)
    assert client.commits == [{("orders", 0): 40}]
    assert value(metrics.assigned) == 2


def test_a_stored_offset_outside_the_log_stops_its_partition_and_is_not_published() -> None:
    t, client, table, _, _ = tracker({("orders", 0): 900}, bounds={("orders", 0): (0, 100)})
    t.on_assign(cast(Consumer, client), tps(("orders", 0)))
    t.settle()
    assert ("orders", 0) in t.stopped and ("orders", 0) in client.paused and client.commits == []
    t.hold(True)
    t.hold(False)  # backpressure never resumes a stopped partition
    assert ("orders", 0) in client.paused
    table.stored[("orders", 0)] = 100  # an operator's `floodwall offsets reset`
    t.recheck_stopped()
    assert ("orders", 0) not in t.stopped and ("orders", 0) not in client.paused
    assert t.positions == {("orders", 0): 100} and client.assigned == {("orders", 0): 100}


def test_revoked_partitions_are_forgotten() -> None:
    t, client, _, metrics, _ = tracker({("orders", 0): 5, ("orders", 1): 7})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    t.settle()
    t.observe_lag()
    t.on_revoke(cast(Consumer, client), tps(("orders", 0)))
    assert t.positions == {("orders", 1): 7} and client.assigned == {("orders", 1): 7}
    lag = {s.labels["partition"] for m in metrics.lag.collect() for s in m.samples}
    assert lag == {"1"}  # another member reports partition 0's lag now
    assert t.settle() == 1


def test_commits_advance_positions_and_a_fence_resyncs_from_the_database() -> None:
    t, client, table, _, _ = tracker({("orders", 0): 0})
    t.on_assign(cast(Consumer, client), tps(("orders", 0)))
    t.advance([Span("orders", 0, 0, 10)])
    assert t.positions == {("orders", 0): 10}
    table.stored[("orders", 0)] = 25  # another member moved it on
    t.resync([("orders", 0)])
    assert t.positions == {("orders", 0): 25} and client.seeks == [(("orders", 0), 25)]


def test_a_dlq_failure_rewinds_and_stalls_the_partition_until_its_back_off() -> None:
    t, client, _, metrics, _ = tracker({("orders", 0): 10})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    spans = [Span("orders", 0, 10, 20), Span("orders", 1, 0, 5)]
    t.stall(DeadLetterFailed("dlq down", frozenset({("orders", 0)})), spans)
    assert client.seeks == [(("orders", 0), 10), (("orders", 1), 0)]  # both rewound, nothing committed
    assert ("orders", 0) in t.stopped and ("orders", 1) not in t.stopped
    assert value(metrics.dead_letter_failures) == 1
    t.recheck_stopped()  # still backing off (10 s)
    assert ("orders", 0) in t.stopped and ("orders", 0) in client.paused


def test_holds_pause_everything_and_an_outage_resumes_all_but_the_stopped() -> None:
    t, client, _, _, _ = tracker({("orders", 0): 900}, bounds={("orders", 0): (0, 100)})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    t.settle()
    t.hold(True)
    assert client.paused == {("orders", 0), ("orders", 1)}
    t.hold(False)
    assert client.paused == {("orders", 0)}
    paused = t.pause_for_outage()
    assert client.paused == {("orders", 0), ("orders", 1)} and len(paused) == 2
    t.end_outage(paused)
    assert client.paused == {("orders", 0)}


def test_a_partition_held_for_the_budget_lost_and_assigned_again_is_fetched_again() -> None:
    # The client keeps a pause across revoke and assign (librdkafka does): a member whose session timed
    # out while the budget held its partitions must not get them back paused for good.
    t, client, _, _, _ = tracker({("orders", 0): 5, ("orders", 1): 7})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    t.settle()
    t.hold(True)
    t.on_revoke(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))  # on_lost: the session expired
    assert client.paused == {("orders", 0), ("orders", 1)}
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    t.settle()
    t.hold(False)
    assert client.paused == set()


@dataclass
class Answered:
    """A partition of a commit result as librdkafka reports it (TopicPartition.error is read-only)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None


def test_an_advisory_commit_kafka_refused_is_sent_again_and_a_confirmed_one_is_not() -> None:
    t, client, _, _, _ = tracker({("orders", 0): 40, ("orders", 1): 7})
    t.on_assign(cast(Consumer, client), tps(("orders", 0), ("orders", 1)))
    t.settle()
    t.advance([Span("orders", 0, 40, 90)])
    t.publish({("orders", 0): 90})
    refused = Answered("orders", 0, 90, KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
    t.on_commit(None, [cast(TopicPartition, refused), TopicPartition("orders", 1, 7)])
    client.commits.clear()
    t.republish()
    assert client.commits == [{("orders", 0): 90}]  # only what Kafka did not confirm
    t.on_commit(None, [TopicPartition("orders", 0, 90)])
    t.advance([Span("orders", 1, 7, 20)])
    t.on_commit(KafkaError(KafkaError._TRANSPORT), [TopicPartition("orders", 1, 20)])  # a whole request
    client.commits.clear()
    t.republish()
    assert client.commits == [{("orders", 1): 20}]
    t.on_commit(None, [TopicPartition("orders", 1, 20)])
    client.commits.clear()
    t.republish()
    assert client.commits == []  # all confirmed: nothing is sent

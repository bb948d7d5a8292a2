"""Decoding ahead (consumers/ahead.py and the loop in consumers/loop.py): poll N+1 is decoded while batch
N commits, and yet every batch's span starts where the previous one ended; a batch that does not commit,
or a rebalance, makes the polls fetched past it be fetched again instead of leaving a gap."""

from __future__ import annotations

from typing import cast
from uuid import uuid4

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message

from floodwall.consumers.ahead import DecodeAhead
from floodwall.consumers.committer import Committer, Outcome
from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.decoder import Batch, assemble, classify
from floodwall.consumers.loop import SinkConsumer
from floodwall.consumers.partitions import PartitionTracker
from floodwall.consumers.sink import ApplyResult, Span
from floodwall.events.codec import EventDeserializer, EventSerializer
from floodwall.events.model import InventoryEvent
from floodwall.settings import load_settings
from tests.unit.consumer_fakes import FakeClient

ENCODE = EventSerializer()
DECODE = EventDeserializer()


def polled(partition: int, first: int, count: int) -> list[Message]:
    return [
        Message(topic="inventory", partition=partition, offset=o, key=b"k",
                value=ENCODE(InventoryEvent.restock(sku=f"s-{uuid4()}", warehouse="w", quantity=1)))
        for o in range(first, first + count)
    ]  # fmt: skip


class ScriptedClient(FakeClient):
    """consume() returns the scripted polls in turn, then asks the consumer to stop."""

    def __init__(self, polls: list[list[Message]], stop: SinkConsumer) -> None:
        super().__init__()
        self.polls, self.stop = polls, stop
        self.assigned = {("inventory", 0): 0, ("inventory", 1): 0}
        self.consumed = 0
        self.rebalance_at: tuple[int, PartitionTracker] | None = None  # (poll number, its tracker)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if not self.polls:
            self.stop.stop()
            return []
        self.consumed += 1
        if self.rebalance_at is not None and self.rebalance_at[0] == self.consumed:
            self.rebalance_at[1].rebalanced = True  # as if a callback had run inside this consume()
        return self.polls.pop(0)


class ScriptedCommitter:
    """Records each batch's spans; the batches whose number is in ``refuse`` are fenced."""

    def __init__(self, tracker: PartitionTracker, refuse: set[int]) -> None:
        self.tracker, self.refuse = tracker, refuse
        self.spans: list[list[Span]] = []

    def commit(self, batch: Batch) -> Outcome:
        spans = batch.span_list()
        self.spans.append(spans)
        if len(self.spans) in self.refuse:
            return Outcome("fenced")  # the real committer re-reads the stored offsets; positions stay
        self.tracker.advance(spans)
        return Outcome("committed", ApplyResult(len(batch.events), 0, 0, 0.01))


def run_loop(polls: list[list[Message]], refuse: frozenset[int] = frozenset(), rebalance_at: int | None = None
             ) -> tuple[ScriptedCommitter, FakeClient]:  # fmt: skip
    settings = load_settings(ConsumerSettings, {"bootstrap_servers": "127.0.0.1:1"})
    consumer = SinkConsumer(settings, "postgresql://unused")  # clients connect lazily
    client = ScriptedClient(polls, consumer)
    tracker = PartitionTracker(cast(Consumer, client), consumer.metrics, consumer._sink, consumer._retry_db)
    tracker._owned = {("inventory", 0), ("inventory", 1)}
    tracker.positions = {("inventory", 0): 0, ("inventory", 1): 0}
    committer = ScriptedCommitter(tracker, set(refuse))
    if rebalance_at is not None:
        client.rebalance_at = (rebalance_at, tracker)
    consumer._consumer, consumer._tracker = cast(Consumer, client), tracker
    consumer._committer = cast(Committer, committer)
    consumer._poll_until_stopped()
    consumer._dlq.close()
    return committer, client


def test_batches_decoded_ahead_commit_in_order_with_contiguous_spans() -> None:
    committer, client = run_loop([polled(0, 0, 3), polled(0, 3, 2) + polled(1, 0, 4), polled(0, 5, 1)])
    assert committer.spans == [
        [Span("inventory", 0, 0, 3)],
        [Span("inventory", 0, 3, 5), Span("inventory", 1, 0, 4)],
        [Span("inventory", 0, 5, 6)],
    ]
    assert client.seeks == []


def test_a_batch_that_did_not_commit_has_the_poll_decoded_ahead_of_it_fetched_again() -> None:
    committer, client = run_loop([polled(0, 0, 3), polled(0, 3, 2) + polled(1, 0, 4)], refuse=frozenset({1}))
    # batch 1 was fenced: batch 2 (decoded meanwhile, starting at 3) must not be committed from 0
    assert committer.spans == [[Span("inventory", 0, 0, 3)]]
    assert sorted(client.seeks) == [(("inventory", 0), 0), (("inventory", 1), 0)]


def test_a_rebalance_has_both_polls_fetched_again_from_the_positions() -> None:
    # the rebalance runs inside the second consume(): polls 1 and 2 are dropped, partition 0 is fetched
    # again from its position, and the third poll is that fetch
    committer, client = run_loop([polled(0, 0, 3), polled(0, 3, 2), polled(0, 0, 5)], rebalance_at=2)
    assert committer.spans == [[Span("inventory", 0, 0, 5)]]
    assert client.seeks == [(("inventory", 0), 0)]


def test_classify_needs_no_positions_and_assemble_cuts_spans_from_them() -> None:
    decoded = classify(polled(0, 10, 4), DECODE)
    assert decoded.partitions() == {("inventory", 0)}
    batch = assemble(decoded, {("inventory", 0): 12})  # 10 and 11 committed meanwhile
    assert [i.offset for i in batch.events] == [12, 13] and batch.span_list() == [
        Span("inventory", 0, 12, 14)
    ]


def test_decode_ahead_takes_what_was_submitted_once() -> None:
    with DecodeAhead(DECODE) as ahead:
        ahead.submit([])
        assert ahead.take() is None
        ahead.submit(polled(1, 0, 2))
        with pytest.raises(RuntimeError):
            ahead.submit(polled(1, 2, 1))
        taken = ahead.take()
        assert taken is not None and [e[2] for e in taken.entries] == [0, 1]
        assert ahead.take() is None


def test_rewind_seeks_owned_partitions_to_their_positions_or_the_beginning() -> None:
    client = FakeClient()
    settings = load_settings(ConsumerSettings, {"bootstrap_servers": "127.0.0.1:1"})
    consumer = SinkConsumer(settings, "postgresql://unused")
    tracker = PartitionTracker(cast(Consumer, client), consumer.metrics, consumer._sink, consumer._retry_db)
    tracker._owned = {("orders", 0), ("orders", 1)}
    tracker.positions = {("orders", 0): 42}
    tracker.rewind([("orders", 0), ("orders", 1), ("orders", 9)])  # 9 is not ours
    assert sorted(client.seeks) == [(("orders", 0), 42), (("orders", 1), OFFSET_BEGINNING)]
    consumer._dlq.close()

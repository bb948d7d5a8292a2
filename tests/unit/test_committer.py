"""The flush → commit order of consumers/committer.py, step by step, with fakes that write one journal.

The fake sink keeps its stored offsets the way PostgreSQL does: they change only at COMMIT, together with
the applied events. A crash is an exception at a step; the next owner resumes from the stored offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import psycopg
import pytest

from floodwall.consumers.committer import Committer
from floodwall.consumers.dbretry import is_transient
from floodwall.consumers.decide import Incoming
from floodwall.consumers.decoder import Batch
from floodwall.consumers.dlq import DeadLetterFailed
from floodwall.consumers.letters import DeadLetter
from floodwall.consumers.sink import ApplyResult, BeforeCommit, Fenced, Poisoned, Span
from tests.unit.consumer_fakes import batch_of

T = TypeVar("T")
TopicPart = tuple[str, int]
KEY = ("orders", 0)


class Crash(Exception):
    """The process dies here (kill -9): nothing after this step happens."""


class Journal(list[str]):
    def __init__(self, crash_at: str | None = None) -> None:
        super().__init__()
        self.crash_at = crash_at

    def step(self, name: str) -> None:
        self.append(name)
        if name == self.crash_at:
            raise Crash(name)


class FakeSink:
    """Steps 2-5 in one 'transaction': stored offsets and applied events change only at COMMIT."""

    def __init__(self, journal: Journal, stored: dict[TopicPart, int] | None = None) -> None:
        self.journal = journal
        self.stored = dict(stored or {})
        self.applied: list[Incoming] = []
        self.poison: set[int] = set()  # offsets the 'database' refuses
        self.commit_fails: str | None = None  # once: "landed" or "lost"

    def apply(
        self, spans: Sequence[Span], batch: Sequence[Incoming], before_commit: BeforeCommit | None = None
    ) -> ApplyResult:
        self.journal.step("fence")
        for s in spans:
            if self.stored.get((s.topic, s.partition), s.first) != s.first:
                raise Fenced(f"{s.topic}[{s.partition}] moved on")
        self.journal.step("apply")
        poisoned = [Poisoned(i, "CheckViolation", "refused") for i in batch if i.offset in self.poison]
        if poisoned and before_commit is not None:
            before_commit(poisoned)
        self.journal.step("COMMIT")
        failure, self.commit_fails = self.commit_fails, None
        if failure != "lost":
            self.stored.update({(s.topic, s.partition): s.end for s in spans})
            self.applied.extend(i for i in batch if i.offset not in self.poison)
        if failure is not None:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        good = len(batch) - len(poisoned)
        return ApplyResult(good, 0, 0, 0.01, rows=good, poisoned=len(poisoned))

    def landed(self, spans: Sequence[Span]) -> bool:
        self.journal.step("landed?")
        return all(self.stored.get((s.topic, s.partition)) == s.end for s in spans)


class FakeDeadLetters:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.sent: list[DeadLetter] = []
        self.failing = False

    def send(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self.journal.step(f"dlq {','.join(str(x.offset) for x in letters)}")
        if self.failing:
            raise DeadLetterFailed("dlq down", frozenset(x.source for x in letters))
        self.sent.extend(letters)


class FakePartitions:
    def __init__(self, journal: Journal, sink: FakeSink) -> None:
        self.journal = journal
        self.sink = sink
        self.positions: dict[TopicPart, int] = {}
        self.published: dict[TopicPart, int] = {}
        self.stalled: list[tuple[frozenset[TopicPart], list[Span]]] = []

    def advance(self, spans: Sequence[Span]) -> None:
        self.journal.step("advance")
        self.positions.update({(s.topic, s.partition): s.end for s in spans})

    def resync(self, keys: Sequence[TopicPart]) -> None:
        self.journal.step("resync")
        self.positions.update({k: self.sink.stored[k] for k in keys if k in self.sink.stored})

    def stall(self, exc: DeadLetterFailed, spans: Sequence[Span]) -> None:
        self.journal.step("stall")
        self.stalled.append((exc.partitions, list(spans)))

    def publish(self, offsets: Mapping[TopicPart, int]) -> None:
        self.journal.step("kafka commit")
        self.published.update(offsets)


def retry(work: Callable[[], T]) -> T:
    """Retries transient errors as consumers/dbretry.py does, without its waits."""
    for _ in range(3):
        try:
            return work()
        except Exception as exc:
            if not is_transient(exc):
                raise
    return work()


def parts(
    stored: dict[TopicPart, int] | None = None, crash_at: str | None = None, sink: FakeSink | None = None
) -> tuple[Committer, FakeSink, FakeDeadLetters, FakePartitions]:
    """A committer over fakes sharing one journal; ``sink`` to share a 'database' with an earlier one."""
    journal = Journal(crash_at)
    if sink is None:
        sink = FakeSink(journal, stored)
    sink.journal = journal
    dlq = FakeDeadLetters(journal)
    partitions = FakePartitions(journal, sink)
    return Committer(sink, dlq, partitions, retry), sink, dlq, partitions


def batch() -> Batch:
    """Offsets 10-14 of orders[0]: 10-12 valid events, 13-14 undecodable (dead letters)."""
    return batch_of(*KEY, first=10, valid=3, invalid=2)


def test_the_order_dead_letters_fence_apply_poisoned_commit_advance_kafka() -> None:
    committer, sink, dlq, partitions = parts()
    sink.poison = {11}
    outcome = committer.commit(batch())
    assert sink.journal == [
        "dlq 13,14", "fence", "apply", "dlq 11", "COMMIT", "advance", "kafka commit"
    ]  # fmt: skip
    assert outcome.status == "committed" and outcome.result.applied == 2
    assert [x.offset for x in outcome.refused] == [11] and outcome.refused[0].error_class == "CheckViolation"
    assert [x.offset for x in dlq.sent] == [13, 14, 11]
    assert sink.stored == partitions.positions == partitions.published == {KEY: 15}


STEPS = ["dlq 13,14", "fence", "apply", "dlq 11", "COMMIT", "advance", "kafka commit"]


@pytest.mark.parametrize("crash_at", STEPS)
def test_a_crash_at_any_step_loses_nothing_and_applies_nothing_twice(crash_at: str) -> None:
    committer, sink, dlq, partitions = parts(crash_at=crash_at)
    sink.poison = {11}
    with pytest.raises(Crash):
        committer.commit(batch())
    assert sink.journal[-1] == crash_at  # nothing after the crash
    committed = STEPS.index(crash_at) > STEPS.index("COMMIT")
    assert sink.stored == ({KEY: 15} if committed else {})
    assert partitions.published == {}  # Kafka never hears of a batch PostgreSQL has not committed
    # The next owner positions from the stored offsets: it reads the batch again only if it did not
    # commit; re-sending the old batch after it committed (a zombie's replay) is fenced.
    again, _, next_dlq, next_partitions = parts(sink=sink)
    outcome = again.commit(batch())
    assert outcome.status == ("fenced" if committed else "committed")
    assert sorted(i.offset for i in sink.applied) == [10, 12]  # once each, never twice
    assert sink.stored == {KEY: 15}
    written = {x.offset for x in dlq.sent + next_dlq.sent}
    assert written == {11, 13, 14}  # every dead letter written, at least once
    assert next_partitions.published == ({} if committed else {KEY: 15})


def test_a_failed_commit_that_landed_is_not_applied_again() -> None:
    committer, sink, _, partitions = parts()
    sink.commit_fails = "landed"
    outcome = committer.commit(batch())
    assert sink.journal == ["dlq 13,14", "fence", "apply", "COMMIT", "landed?", "advance", "kafka commit"]
    assert outcome.status == "committed" and outcome.result.applied == 0  # its counts went with the error
    assert len(sink.applied) == 3 and partitions.published == {KEY: 15}


def test_a_failed_commit_that_did_not_land_is_applied_again_once() -> None:
    committer, sink, _, partitions = parts()
    sink.commit_fails = "lost"
    outcome = committer.commit(batch())
    assert sink.journal == [
        "dlq 13,14", "fence", "apply", "COMMIT", "landed?", "fence", "apply", "COMMIT", "advance",
        "kafka commit",
    ]  # fmt: skip
    assert outcome.result.applied == 3 and len(sink.applied) == 3 and partitions.published == {KEY: 15}


def test_a_fenced_batch_is_not_applied_and_the_partition_resyncs() -> None:
    committer, sink, _, partitions = parts(stored={KEY: 42})  # another member moved on to 42
    sink.poison = {11}
    outcome = committer.commit(batch())
    assert outcome.status == "fenced"
    assert sink.journal == ["dlq 13,14", "fence", "resync"]
    assert sink.applied == [] and sink.stored == {KEY: 42}
    assert partitions.positions == {KEY: 42} and partitions.published == {}


def test_an_unwritable_dlq_stalls_the_partition_before_any_database_work() -> None:
    committer, sink, dlq, partitions = parts()
    dlq.failing = True
    assert committer.commit(batch()).status == "stalled"
    assert sink.journal == ["dlq 13,14", "stall"]
    assert partitions.stalled == [(frozenset({KEY}), [Span(*KEY, 10, 15)])]
    assert sink.stored == {} and partitions.published == {} and partitions.positions == {}


def test_an_unwritable_dlq_for_poisoned_events_rolls_the_transaction_back() -> None:
    committer, sink, dlq, partitions = parts()
    sink.poison = {11}
    b = batch()
    b.letters = []
    dlq.failing = True
    assert committer.commit(b).status == "stalled"
    assert sink.journal == ["fence", "apply", "dlq 11", "stall"]  # no COMMIT after the failed send
    assert sink.stored == {} and sink.applied == [] and partitions.published == {}


def test_a_batch_without_dead_letters_goes_straight_to_the_database() -> None:
    committer, sink, dlq, _ = parts()
    outcome = committer.commit(batch_of(*KEY, first=0, valid=2))
    assert sink.journal == ["fence", "apply", "COMMIT", "advance", "kafka commit"]
    assert outcome.refused == [] and dlq.sent == []

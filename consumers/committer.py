"""The committer: the one owner of the order in which a batch becomes durable.

PostgreSQL, not Kafka, holds the truth about progress: each partition's next offset is stored with the
rows, in the same transaction. Every step below comes where it does so that a crash (``kill -9``)
between any two steps loses nothing and applies nothing twice.

1. **Dead letters first.** The decoder's dead letters (undecodable, unknown schema, invalid) are sent to
   the dead-letter topic and acknowledged before any database work: once the batch's offsets commit, a
   dead letter can no longer be re-read, so it must already be written. A crash after this step sends
   them again on the next try (the DLQ is at-least-once), never drops them.
2. **Fence** (BEGIN): each partition's stored offset must still be the batch's first offset. A zombie
   (a member that lost the partition without noticing) updates nothing and gets :class:`Fenced`:
   nothing is applied, the partitions are re-read from the stored offsets, nothing goes to Kafka.
3. **Apply** the rows; events the database refuses are isolated (poisoned), their batch-mates stay.
4. **Poisoned events to the DLQ, inside the transaction, before COMMIT**: if the DLQ does not take them
   the transaction rolls back, so nothing is committed past an unwritten dead letter.
5. **COMMIT**: rows and next offsets together — the exactly-once point.
6. **A failed COMMIT may have landed** (a failover between the commit and its acknowledgement): before
   a retry the committer asks :meth:`Sink.landed` and never re-applies blindly.
7. **Advance** the tracker's positions, only now: before COMMIT they would skip events on a retry.
8. **Kafka commit, last and advisory** — only for Kafka's tools, KEDA and the autoscaler to see the lag.
   A crash between 5 and 8 leaves Kafka behind; the next owner positions from PostgreSQL anyway.

When the DLQ fails (step 1 or 4) nothing is committed: the partitions are rewound to the batch's start
and the failed ones stalled (consumers/dlqstall.py) until a back-off has passed.

Steps 2-5 are one database transaction inside :meth:`Sink.apply` (consumers/sink.py); the order of the
rest, and what happens on each failure, is here and only here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from floodwall.consumers.decide import Incoming
from floodwall.consumers.decoder import Batch
from floodwall.consumers.dlq import DeadLetterFailed
from floodwall.consumers.letters import DeadLetter
from floodwall.consumers.sink import ApplyResult, BeforeCommit, Fenced, Poisoned, Span

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]
T = TypeVar("T")


class Sink(Protocol):
    """Where batches land (PostgresSink): steps 2-5 in one transaction."""

    def apply(
        self, spans: Sequence[Span], batch: Sequence[Incoming], before_commit: BeforeCommit | None = None
    ) -> ApplyResult:
        """Fence, apply, hand refused events to ``before_commit`` (inside the transaction: if it raises,
        nothing commits), COMMIT. Raises Fenced (nothing applied) or a database error (nothing or all)."""
        ...

    def landed(self, spans: Sequence[Span]) -> bool:
        """After a failed COMMIT: are the spans' ends stored, i.e. did the batch land anyway?"""
        ...


class DeadLetters(Protocol):
    """The dead-letter topic (DeadLetterQueue)."""

    def send(self, letters: list[DeadLetter]) -> None:
        """Return once every letter is acknowledged; raise DeadLetterFailed otherwise."""
        ...


class Partitions(Protocol):
    """The partition tracker's side of a commit (PartitionTracker)."""

    def advance(self, spans: Sequence[Span]) -> None:
        """The spans are committed: their partitions' next positions are the spans' ends."""
        ...

    def resync(self, keys: Sequence[TopicPart]) -> None:
        """Fenced: re-read these partitions' stored offsets and seek there."""
        ...

    def stall(self, exc: DeadLetterFailed, spans: Sequence[Span]) -> None:
        """The DLQ failed: rewind to the spans' starts and stall the partitions ``exc`` names."""
        ...

    def publish(self, offsets: Mapping[TopicPart, int]) -> None:
        """Tell Kafka where PostgreSQL stands (advisory; never raises)."""
        ...


class Retry(Protocol):
    """Runs database work, retrying transient errors (consumers/dbretry.py)."""

    def __call__(self, work: Callable[[], T]) -> T: ...


Status = Literal["committed", "fenced", "stalled"]
NOTHING = ApplyResult(0, 0, 0, 0.0)


@dataclass(frozen=True)
class Outcome:
    """What became of a batch: ``committed`` (``result``, ``refused`` letters sent), or not committed at
    all — ``fenced`` (another member owns a partition) or ``stalled`` (the DLQ failed)."""

    status: Status
    result: ApplyResult = NOTHING  # all zeros when a failed COMMIT had landed (the counts were lost)
    refused: list[DeadLetter] = field(default_factory=list)


class Committer:
    """Commits decoded batches in the order the module docstring gives, and says what became of each."""

    def __init__(self, sink: Sink, dead_letters: DeadLetters, partitions: Partitions, retry: Retry) -> None:
        self._sink = sink
        self._dead_letters = dead_letters
        self._partitions = partitions
        self._retry = retry

    def commit(self, batch: Batch) -> Outcome:
        """Commit ``batch`` exactly once. Errors other than Fenced and DeadLetterFailed (a database that
        stays down, shutdown during an outage, a crash) propagate with nothing past step 5 done."""
        spans = batch.span_list()
        try:
            self._dead_letters.send(batch.letters)  # step 1
            result, refused = self._apply(spans, batch)  # steps 2-6
        except DeadLetterFailed as exc:
            self._partitions.stall(exc, spans)
            return Outcome("stalled")
        except Fenced as exc:
            log.warning("batch fenced, re-reading stored offsets: %s", exc)
            self._partitions.resync([(s.topic, s.partition) for s in spans])
            return Outcome("fenced")
        self._partitions.advance(spans)  # step 7
        self._partitions.publish({(s.topic, s.partition): s.end for s in spans})  # step 8
        return Outcome("committed", result, refused)

    def _apply(self, spans: list[Span], batch: Batch) -> tuple[ApplyResult, list[DeadLetter]]:
        attempted = False
        refused: list[DeadLetter] = []

        def dead_letter(poisoned: list[Poisoned]) -> None:  # step 4, called by the sink before COMMIT
            nonlocal refused
            letters = batch.refused_letters(poisoned)
            self._dead_letters.send(letters)
            refused = letters

        def attempt() -> ApplyResult | None:
            nonlocal attempted, refused
            if attempted and self._sink.landed(spans):  # step 6: it committed after all
                return None
            attempted = True
            refused = []
            return self._sink.apply(spans, batch.events, dead_letter)

        result = self._retry(attempt)
        return (result if result is not None else NOTHING), refused

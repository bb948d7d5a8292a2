"""Decode ahead: the next poll's messages are decoded and validated on a worker thread while the current
batch commits on the loop's thread.

Why a thread helps under the GIL: while a batch commits, the loop's thread mostly waits for PostgreSQL
(psycopg and librdkafka release the GIL while they wait), and decoding is pure Python work. Measured on
one consumer, about half of its wall time was such waiting (docs/consumers.md, "Throughput").

Only :func:`consumers.decoder.classify` runs on the worker: it needs no position, no client and no
connection. Everything that touches Kafka or PostgreSQL, and the whole flush → commit order
(consumers/committer.py), stays on the loop's thread; the spans are cut from the positions only once the
previous batch has committed (:func:`consumers.decoder.assemble`). Depth one: at most one poll is decoded
ahead, so a batch's memory is bounded by two polls.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from confluent_kafka import Message

from floodwall.consumers.decoder import Classified, classify
from floodwall.events.codec import EventDeserializer


class DecodeAhead:
    """One poll being decoded on a worker thread. Use as a context manager (the worker stops at exit)."""

    def __init__(self, deserialize: EventDeserializer) -> None:
        self._deserialize = deserialize
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floodwall-decode")
        self._pending: Future[Classified] | None = None

    def submit(self, messages: Sequence[Message]) -> None:
        """Start decoding ``messages`` (nothing when empty). The previous poll must have been taken."""
        if self._pending is not None:
            raise RuntimeError("a poll is still being decoded: take() it first")
        if messages:
            self._pending = self._pool.submit(classify, messages, self._deserialize)

    def take(self) -> Classified | None:
        """The poll submitted last, decoded (waits for it); None when there is none. Re-raises what the
        decoding raised (a bug: classify turns every bad message into a dead letter)."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def __enter__(self) -> DecodeAhead:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending = None
        self._pool.shutdown(wait=True, cancel_futures=True)

"""Retrying database work through a failover — bounded in time, and cut short by a shutdown request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import psycopg
from confluent_kafka import TopicPartition
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)

from floodwall.errors import FloodwallError
from floodwall.redact import error_line

log = logging.getLogger(__name__)

T = TypeVar("T")


class Abandoned(FloodwallError):
    """Shutdown was requested while the database was failing: the work was not done (nothing applied)."""


class DatabaseUnavailable(FloodwallError):
    """The database kept failing for the whole retry window: the work was not done (nothing applied)."""


def is_transient(exc: BaseException) -> bool:
    """Database errors worth retrying: connection lost, a demoted (read-only) primary, conflicts."""
    transient = (
        psycopg.OperationalError,
        psycopg.errors.ReadOnlySqlTransaction,
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
    )
    return isinstance(exc, transient)


def retry_transient(
    work: Callable[[], T],
    *,
    max_s: float,
    stopping: threading.Event,
    before_retry: Callable[[BaseException | None], None],
) -> T:
    """Run ``work``; retry transient database errors with jittered exponential backoff for up to ``max_s``.

    ``before_retry`` runs before each wait (to pause partitions, drop the broken connection, log). Setting
    ``stopping`` ends the wait at once and stops retrying, so a SIGTERM during a failover is served in
    well under a second instead of after ``max_s``. Raises :class:`Abandoned` in that case,
    :class:`DatabaseUnavailable` when the time is up (an outage, not a bug: one clear line for the
    operator, no traceback), or the error itself when it is not transient.
    """

    def before_sleep(state: RetryCallState) -> None:
        before_retry(state.outcome.exception() if state.outcome else None)

    def sleep(seconds: float) -> None:
        stopping.wait(seconds)  # an interruptible sleep: a shutdown request wakes it

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
        stop=stop_after_delay(max_s) | stop_when_event_set(stopping),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(work)
    except Exception as exc:
        if not is_transient(exc):
            raise
        if stopping.is_set():
            raise Abandoned(f"shutting down while the database is unavailable ({error_line(exc)})") from exc
        raise DatabaseUnavailable(
            f"the database stayed unavailable for {max_s:g} s (db_retry_max_s), giving up; nothing past the "
            f"last committed offsets was applied ({error_line(exc)})"
        ) from exc


class Reconnecting(Protocol):
    """A database client that drops its connection on :meth:`close` and opens a new one when next used."""

    conninfo: str

    def close(self) -> None: ...


@dataclass
class OutageRetry:
    """:func:`retry_transient` as the consumer needs it, for every database call it makes.

    While the database fails: the connection is dropped (it is broken or points at a demoted node),
    ``on_failure`` runs (the write budget backs off), ``pause()`` pauses the partitions once so the
    client stops fetching (librdkafka heartbeats on its own thread), and :attr:`failing` is True for the
    readiness probe. Afterwards ``resume`` gets what was paused. An outage longer than
    max.poll.interval.ms makes the client leave the group: the partitions move on, and the batch is then
    either applied (nobody moved the stored offsets yet) or fenced; either way nothing is lost or doubled.
    """

    max_s: float
    stopping: threading.Event
    db: Reconnecting
    on_failure: Callable[[], None]
    pause: Callable[[], list[TopicPartition]]
    resume: Callable[[list[TopicPartition]], None]
    failing: bool = False

    def __call__(self, work: Callable[[], T]) -> T:
        """Run ``work`` (raises as :func:`retry_transient` does)."""
        paused: list[TopicPartition] = []

        def before_retry(error: BaseException | None) -> None:
            self.failing = True
            self.db.close()
            self.on_failure()
            if not paused:
                paused.extend(self.pause())
            log.warning("database unavailable (%s); retrying", error_line(error, self.db.conninfo))

        try:
            result = retry_transient(
                work, max_s=self.max_s, stopping=self.stopping, before_retry=before_retry
            )
            self.failing = False
            return result
        finally:
            if paused:
                self.resume(paused)

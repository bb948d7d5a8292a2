"""Consumer pieces without I/O: which database errors are retried and how."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from floodwall.consumers.dbretry import Abandoned, DatabaseUnavailable, is_transient, retry_transient
from floodwall.consumers.metrics import ConsumerMetrics, Totals


def test_transient_database_errors() -> None:
    assert is_transient(psycopg.OperationalError("connection lost"))
    assert is_transient(psycopg.errors.ReadOnlySqlTransaction())
    assert is_transient(psycopg.errors.SerializationFailure())
    assert not is_transient(psycopg.errors.UniqueViolation())
    assert not is_transient(ValueError())


def test_transient_errors_are_retried_until_the_work_succeeds() -> None:
    calls: list[int] = []
    retried: list[str] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.OperationalError("server closed the connection")
        return "done"

    result = retry_transient(
        work, max_s=30, stopping=threading.Event(), before_retry=lambda e: retried.append(str(e))
    )
    assert result == "done" and len(calls) == 3
    assert retried == ["server closed the connection"] * 2


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise psycopg.errors.CheckViolation("bad row")

    with pytest.raises(psycopg.errors.CheckViolation):
        retry_transient(work, max_s=30, stopping=threading.Event(), before_retry=lambda e: None)
    assert len(calls) == 1


def test_an_outage_longer_than_the_window_ends_in_one_clear_error() -> None:
    """Not the raw psycopg error: the CLI prints a FloodwallError as one line, psycopg's as a traceback."""

    def work() -> None:
        raise psycopg.OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    with pytest.raises(DatabaseUnavailable, match=r"unavailable for 0.3 s .*Connection refused"):
        retry_transient(work, max_s=0.3, stopping=threading.Event(), before_retry=lambda e: None)


def test_a_shutdown_request_cuts_the_retrying_short() -> None:
    stopping = threading.Event()

    def work() -> None:
        raise psycopg.OperationalError("connection refused")

    threading.Timer(0.5, stopping.set).start()
    started = time.monotonic()
    with pytest.raises(Abandoned, match="connection refused"):
        retry_transient(work, max_s=120, stopping=stopping, before_retry=lambda e: None)
    # Without the cut the retries would go on for max_s (120 s).
    assert time.monotonic() - started < 10


def test_the_totals_are_read_from_the_metrics_summed_over_their_labels() -> None:
    m = ConsumerMetrics.create(CollectorRegistry())
    m.applied.inc(7)
    m.rejected.labels("insufficient_stock").inc(2)
    m.rejected.labels("unknown_order").inc(1)
    m.duplicates.inc(3)
    m.dead_letters.labels("MalformedMessage").inc(4)
    m.dead_letters.labels("CheckViolation").inc(1)
    m.fenced.inc()
    m.batch_events.observe(10)
    m.batch_events.observe(3)
    assert m.totals() == Totals(batches=2, applied=7, rejected=3, duplicates=3, dead_letters=5, fenced=1)

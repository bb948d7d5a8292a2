"""The SDK's failure handling without a broker: error classification, guarded loops, surfacing."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from floodwall.events.model import InventoryEvent
from floodwall.producers.config import ProducerSettings
from floodwall.producers.faults import (
    RestartReason,
    is_outage,
    kafka_error_of,
    needs_new_client,
    restart_reason,
    should_spool,
    stronger,
)
from floodwall.producers.guard import APPLICATION_SIGNALS, guarded_loop
from floodwall.producers.lifecycle import ClientSupervisor
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer, ProducerFailed
from floodwall.settings import load_settings


@pytest.mark.parametrize(
    "code",
    [KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, KafkaError.UNKNOWN_PRODUCER_ID, KafkaError._FATAL],
)
def test_lost_idempotence_state_needs_a_new_client_even_without_the_fatal_flag(code: int) -> None:
    # Kafka 4.4 reported OUT_OF_ORDER_SEQUENCE_NUMBER deliveries with fatal() false (docs/sdk.md).
    err = KafkaError(code, "x")
    assert not err.fatal()
    assert needs_new_client(err) and should_spool(err)
    assert restart_reason(err) is RestartReason.FATAL


def test_any_error_flagged_fatal_needs_a_new_client() -> None:
    err = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "x", fatal=True)
    assert needs_new_client(err) and should_spool(err)


def test_outage_spools_without_declaring_the_client_broken() -> None:
    for code in (KafkaError._MSG_TIMED_OUT, KafkaError._ALL_BROKERS_DOWN, KafkaError._PURGE_INFLIGHT):
        err = KafkaError(code, "x")
        assert is_outage(err) and should_spool(err) and not needs_new_client(err)
        assert restart_reason(err) is RestartReason.OUTAGE


def test_an_error_of_the_event_itself_is_neither() -> None:
    err = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too big")
    assert not should_spool(err) and not needs_new_client(err)


def test_kafka_error_of_unwraps_only_kafka_exceptions() -> None:
    err = KafkaError(KafkaError._FATAL, "x", fatal=True)
    assert kafka_error_of(KafkaException(err)) is err
    assert kafka_error_of(KafkaException("no error object")) is None
    assert kafka_error_of(AttributeError("'list' object has no attribute '__class__'")) is None


def test_the_strongest_restart_reason_wins() -> None:
    assert stronger(None, RestartReason.OUTAGE) is RestartReason.OUTAGE
    assert stronger(RestartReason.OUTAGE, RestartReason.FATAL) is RestartReason.FATAL
    assert stronger(RestartReason.FATAL, RestartReason.OUTAGE) is RestartReason.FATAL
    assert stronger(RestartReason.CLIENT_ERROR, RestartReason.FATAL) is RestartReason.FATAL


class Steps:
    """A loop step that fails ``failures`` times, then succeeds, recording what happened."""

    def __init__(self, failures: int, stop_after: int) -> None:
        self.failures = failures
        self.stop_after = stop_after
        self.calls = 0
        self.errors: list[BaseException] = []
        self.gave_up: list[BaseException] = []
        self.closing = threading.Event()

    def step(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"failure {self.calls}")
        if self.calls >= self.stop_after:
            self.closing.set()

    def run(self, give_up_after: int | None) -> None:
        loop = guarded_loop(
            "test",
            self.step,
            self.closing,
            on_error=self.errors.append,
            on_give_up=self.gave_up.append,
            give_up_after=give_up_after,
            backoff_max_s=0.05,
        )
        thread = threading.Thread(target=loop)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the guarded loop did not end"


def test_a_failing_step_is_logged_reported_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    steps = Steps(failures=3, stop_after=6)
    with caplog.at_level(logging.WARNING, logger="producers.guard"):
        steps.run(give_up_after=5)
    assert [str(e) for e in steps.errors] == ["failure 1", "failure 2", "failure 3"]
    assert steps.gave_up == [] and steps.calls == 6
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 3


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    steps = Steps(failures=0, stop_after=4)
    outcomes = iter([RuntimeError("a"), None, RuntimeError("b"), None])

    def flaky() -> None:
        steps.calls += 1
        outcome = next(outcomes)
        if steps.calls >= steps.stop_after:
            steps.closing.set()
        if outcome is not None:
            raise outcome

    steps.step = flaky  # type: ignore[method-assign]
    steps.run(give_up_after=2)
    assert len(steps.errors) == 2 and steps.gave_up == []


def test_a_step_that_keeps_failing_gives_up_and_surfaces() -> None:
    steps = Steps(failures=100, stop_after=1000)
    steps.run(give_up_after=3)
    assert len(steps.errors) == 3 and steps.calls == 3
    assert [str(e) for e in steps.gave_up] == ["failure 3"]


def test_closing_ends_the_back_off_at_once() -> None:
    steps = Steps(failures=100, stop_after=1000)
    steps.closing.set()
    steps.run(give_up_after=None)
    assert steps.calls == 0 and steps.gave_up == []


def test_a_poll_thread_that_cannot_go_on_fails_the_producer_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_poll_step(self: ClientSupervisor) -> None:
        raise RuntimeError("poll broke")

    # The SDK's own step is replaced, not Kafka: the client is real (no broker needed to build it).
    monkeypatch.setattr(ClientSupervisor, "poll_step", broken_poll_step)
    registry = CollectorRegistry()
    settings = load_settings(
        ProducerSettings, {"bootstrap_servers": "127.0.0.1:1", "spool_dir": tmp_path / "spool"}
    )
    producer = EventProducer(settings, metrics=ProducerMetrics.on(registry))
    try:
        with pytest.raises(ProducerFailed, match="poll thread failed 5 times in a row"):
            producer.drain(timeout=30)
        assert not producer.online
        assert registry.get_sample_value("floodwall_producer_online") == 0
        assert registry.get_sample_value("floodwall_producer_thread_errors_total", {"thread": "poll"}) == 5
        event = InventoryEvent.restock(sku="SKU-1", warehouse="w1", quantity=1)
        with pytest.raises(ProducerFailed, match="RuntimeError: poll broke"):
            producer.emit(event)
        with pytest.raises(ProducerFailed):
            producer.flush(1)
    finally:
        producer.close(timeout=1)
    assert any("gave up" in r.getMessage() for r in caplog.records)


def test_the_sdk_threads_leave_the_applications_signals_to_its_main_thread() -> None:
    """A Ctrl-C the kernel handed to an SDK thread would not interrupt a main thread blocked in a read."""
    blocked: list[set[int | signal.Signals]] = []
    closing = threading.Event()

    def step() -> None:
        blocked.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        closing.set()

    thread = threading.Thread(target=guarded_loop("test", step, closing, on_error=print, on_give_up=print))
    thread.start()
    thread.join(timeout=10)
    assert blocked and blocked[0] >= APPLICATION_SIGNALS
    assert signal.SIGINT in APPLICATION_SIGNALS and signal.SIGTERM in APPLICATION_SIGNALS
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the caller's mask is untouched

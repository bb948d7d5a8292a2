"""The producer's waits wake on their condition, and the recovery worker's contract, without a broker.

The broker is either refused (nothing listens) or *silent*: a real TCP listener that accepts connections
and never answers, as a hung broker would. Waits are sequenced with threading events and the shared
condition; every bound is generous (far under the old sleep slices' worst cases is not what is asserted:
far under the wait's own deadline is).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # documented there, not in the stub
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
)
from prometheus_client import CollectorRegistry

from floodwall.events.model import InventoryEvent
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.faults import RestartReason
from floodwall.producers.lifecycle import ClientSupervisor
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.outbox import Outbox
from floodwall.producers.producer import EventProducer
from floodwall.producers.recovery import RecoveryWorker, topics_led
from floodwall.producers.spool import Spool, SpoolRecord
from floodwall.settings import load_settings

REFUSED = "127.0.0.1:1"
# Far above any bound asserted below: a wait that returns before it did so because its condition held.
LONG_S = 60.0


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """host:port of a listener that takes connections into its backlog and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def _settings(tmp_path: Path, bootstrap: str, **extra: object) -> ProducerSettings:
    values: dict[str, object] = {"bootstrap_servers": bootstrap, "spool_dir": tmp_path / "spool", **extra}
    return load_settings(ProducerSettings, values)


def _restock(n: int = 1) -> InventoryEvent:
    return InventoryEvent.restock(sku=f"SKU-{n}", warehouse="w1", quantity=1)


def _in_thread(target: object) -> tuple[threading.Thread, threading.Event, list[object]]:
    """Run ``target()`` in a thread; the event is set when it returned (its result in the list)."""
    done, result = threading.Event(), []

    def run() -> None:
        try:
            result.append(target())  # type: ignore[operator]
        except BaseException as exc:
            result.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done, result


def _leave_spool(settings: ProducerSettings, records: int = 1) -> None:
    """A spool an earlier run left: the next producer on it starts offline and replays it first."""
    spool = Spool(settings.spool_dir, settings.spool_max_bytes)
    for seq in range(records):
        spool.append(SpoolRecord(seq, settings.inventory_topic, b"SKU-1", b"value"))
    spool.sync()
    spool.close()


def _supervisor(settings: ProducerSettings) -> tuple[ClientSupervisor, Outbox]:
    metrics = ProducerMetrics.on(CollectorRegistry())
    cond = threading.Condition(threading.RLock())
    outbox = Outbox(Spool(settings.spool_dir, settings.spool_max_bytes), cond, metrics, lambda _t: None)
    return ClientSupervisor(settings, metrics, outbox, cond, threading.Event()), outbox


def _restart(clients: ClientSupervisor) -> RestartReason | None:
    return clients.restart  # read through a call: the assertions compare it before and after a change


# ---- ClientSupervisor.wait_until -------------------------------------------------------------------


def test_wait_until_returns_as_soon_as_its_condition_holds(tmp_path: Path) -> None:
    clients, outbox = _supervisor(_settings(tmp_path, REFUSED))
    flag: list[bool] = []
    _, returned, result = _in_thread(
        lambda: clients.wait_until(lambda: bool(flag), time.monotonic() + LONG_S)
    )
    with clients.cond:  # wait_until notifies when it starts waiting
        assert clients.cond.wait_for(lambda: clients.waiters == 1, 10)
        flag.append(True)
        clients.cond.notify_all()
    assert returned.wait(5), "wait_until did not wake on its condition"
    assert result == [True] and clients.waiters == 0
    outbox.close()


def test_wait_until_gives_up_at_its_deadline_with_the_predicate_false(tmp_path: Path) -> None:
    clients, outbox = _supervisor(_settings(tmp_path, REFUSED))
    started = time.monotonic()
    assert clients.wait_until(lambda: False, started + 0.2) is False
    assert 0.15 <= time.monotonic() - started < 5
    outbox.close()


# ---- EventProducer: emit, flush, drain ------------------------------------------------------------


def test_emit_waiting_for_room_spools_as_soon_as_the_producer_goes_offline(
    tmp_path: Path, silent_broker: str
) -> None:
    settings = _settings(tmp_path, silent_broker, queue_max_messages=1000, emit_timeout_s=LONG_S)
    with EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        # The silent broker never acknowledges: the client's queue fills and stays full.
        queued = [producer.emit(_restock(i)) for i in range(1000)]
        assert all(h.status is DeliveryStatus.PENDING for h in queued) and producer.online
        clients = producer._clients
        _, emitted, result = _in_thread(lambda: producer.emit(_restock()))
        with clients.cond:
            assert clients.cond.wait_for(lambda: clients.waiters > 0, 10), "emit() did not wait for room"
        assert not emitted.is_set()
        clients.go_offline("test: broker gone", RestartReason.OUTAGE)
        assert emitted.wait(5), f"emit() still waiting {LONG_S} s deadline after the producer went offline"
        handle = result[0]
        assert isinstance(handle, Delivery), handle
        assert handle.wait(10) is DeliveryStatus.SPOOLED
        # flush() wakes on the purged events' reports as they land in the spool.
        _, flushed, left = _in_thread(lambda: producer.flush(LONG_S))
        assert flushed.wait(30), "flush() did not return once everything was spooled"
        assert left == [0]
        assert all(h.status is DeliveryStatus.SPOOLED for h in queued)
        assert producer.spooled_events == 1001


def test_drain_with_the_broker_refused_waits_its_timeout_and_says_false(tmp_path: Path) -> None:
    settings = _settings(tmp_path, REFUSED)
    _leave_spool(settings)
    with EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
        assert not producer.online  # the old spool is replayed first
        started = time.monotonic()
        assert producer.drain(timeout=0.3) is False
        assert 0.25 <= time.monotonic() - started < 10
        handle = producer.emit(_restock())
        assert handle.wait(10) is DeliveryStatus.SPOOLED  # the spool thread syncs at once, no pause


def test_close_does_not_wait_out_the_probe_pause(tmp_path: Path) -> None:
    settings = _settings(tmp_path, REFUSED)
    _leave_spool(settings)
    producer = EventProducer(settings, metrics=ProducerMetrics.on(CollectorRegistry()))
    assert producer.drain(timeout=0.1) is False  # the recovery thread is probing the refused broker
    _, closed, _ = _in_thread(lambda: producer.close(timeout=1))
    assert closed.wait(10), "close() hung on the recovery thread"
    assert all(not t.is_alive() for t in producer._threads)


# ---- RecoveryWorker --------------------------------------------------------------------------------


def _worker(
    settings: ProducerSettings, probe_interval_s: float
) -> tuple[RecoveryWorker, ClientSupervisor, Outbox]:
    clients, outbox = _supervisor(settings)
    worker = RecoveryWorker(
        clients, outbox, ProducerMetrics.on(CollectorRegistry()), [settings.inventory_topic], lambda _t: None,
        probe_interval_s=probe_interval_s,
    )  # fmt: skip
    return worker, clients, outbox


def test_recovery_step_waits_while_online_and_ends_at_once_on_close(tmp_path: Path) -> None:
    worker, clients, outbox = _worker(_settings(tmp_path, REFUSED), probe_interval_s=LONG_S)
    assert clients.online  # empty spool: nothing to recover
    _, stepped, _ = _in_thread(worker.step)
    assert not stepped.wait(0.2)  # online: the worker waits on the condition
    with clients.cond:
        clients.closing.set()
        clients.cond.notify_all()
    assert stepped.wait(5), "the recovery step did not end on close"
    outbox.close()


def test_recovery_probe_pause_ends_at_once_on_close_and_keeps_the_spool(tmp_path: Path) -> None:
    settings = _settings(tmp_path, REFUSED)
    _leave_spool(settings, records=3)
    worker, clients, outbox = _worker(settings, probe_interval_s=LONG_S)
    assert not clients.online and clients.restart is None  # start-up replay, through the first client
    _, stepped, result = _in_thread(worker.step)
    # The probe of the refused broker fails; the step then pauses LONG_S on the condition.
    assert not stepped.wait(0.5)
    with clients.cond:
        clients.closing.set()
        clients.cond.notify_all()
    assert stepped.wait(10), "the probe pause did not end on close"
    assert result == [None]
    assert not clients.online and outbox.spool.events == 3  # nothing replayed, nothing lost
    outbox.close()


def test_standby_client_errors_stay_with_the_standby_until_it_is_swapped_in(tmp_path: Path) -> None:
    worker, clients, outbox = _worker(_settings(tmp_path, REFUSED), probe_interval_s=LONG_S)
    clients.go_offline("test", RestartReason.OUTAGE)
    standby = clients.build_client(worker._standby_error)
    worker._standby = standby
    fatal = KafkaError(KafkaError._FATAL, "standby broke", fatal=True)
    worker._standby_error(standby[0], fatal)
    assert worker._standby_broken and clients.restart is RestartReason.OUTAGE  # not the current client's
    with clients.cond:
        worker._standby, worker._standby_broken = None, False
        clients.swap(*standby)
    assert _restart(clients) is None and clients.client is standby[1]
    with clients.cond:
        clients.go_online(0)
    worker._standby_error(standby[0], fatal)  # now the current client's error: replace it
    assert not clients.online and _restart(clients) is RestartReason.FATAL
    outbox.close()


def _metadata(leaders: dict[str, list[int]]) -> ClusterMetadata:
    """Cluster metadata as the client returns it: ``{topic: [leader of partition 0, 1, …]}``."""
    metadata = ClusterMetadata()
    for name, partition_leaders in leaders.items():
        topic = TopicMetadata()
        topic.topic = name
        for number, leader in enumerate(partition_leaders):
            partition = PartitionMetadata()
            partition.id, partition.leader = number, leader
            topic.partitions[number] = partition
        metadata.topics[name] = topic
    return metadata


def test_a_replay_waits_until_every_partition_has_a_leader() -> None:
    # After a whole cluster restarts its topics are listed before their leaders are elected; records
    # replayed then could time out while later ones of their partition get through.
    topics = ["orders", "inventory"]
    assert topics_led(_metadata({"orders": [1, 2], "inventory": [3, 1]}), topics)
    assert not topics_led(_metadata({"orders": [1, -1], "inventory": [3, 1]}), topics)
    assert not topics_led(_metadata({"orders": [1, 2]}), topics)  # a topic not there yet
    assert not topics_led(_metadata({"orders": [1, 2], "inventory": []}), topics)

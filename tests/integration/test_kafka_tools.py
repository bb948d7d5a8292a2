"""Kafka's own tools agree with Floodwall: kcat talks to the local broker, and Kafka's
ConsumerGroupCommand reports the same per-partition lag for the sink's group as Floodwall's reader."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.loop import SinkConsumer
from floodwall.events.model import InventoryEvent
from floodwall.offsets import read_group_positions
from floodwall.producers.config import ProducerSettings
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def kcat(*args: str, stdin: str = "") -> str:
    binary = shutil.which("kcat")
    assert binary, "kcat comes with Debian's kcat package (scripts/setup.sh installs it)"
    done = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kcat_produces_to_and_consumes_from_the_local_broker(stack: RunningStack) -> None:
    layout = Layout(stack.settings)
    topic = f"kcat-{uuid.uuid4().hex[:8]}"
    ensure_topics(layout.bootstrap_servers, [topic], 3)
    lines = [f"key-{n}:value-{n}" for n in range(50)]
    kcat("-b", layout.bootstrap_servers, "-P", "-t", topic, "-K:", stdin="\n".join(lines) + "\n")
    out = kcat(
        "-b", layout.bootstrap_servers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n"
    )
    assert sorted(out.splitlines()) == sorted(lines)


def consumer_group_command(settings: StackSettings, group: str) -> dict[tuple[str, int], tuple[int, int]]:
    """{(topic, partition): (current offset, lag)} as Kafka's own `kafka-consumer-groups --describe`
    prints them (org.apache.kafka.tools.consumer.group.ConsumerGroupCommand from the stack's jars)."""
    argv = [
        settings.java_bin, "-Xmx256m", "-cp", str(settings.kafka_lib_dir / "*"),
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server", Layout(settings).bootstrap_servers, "--describe", "--group", group,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows: dict[tuple[str, int], tuple[int, int]] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[3].isdigit():  # "-": nothing committed
            rows[(fields[1], int(fields[2]))] = (int(fields[3]), int(fields[5]))
    return rows


def test_lag_agrees_with_kafkas_consumer_group_command(stack: RunningStack, tmp_path: Path) -> None:
    layout = Layout(stack.settings)
    suffix = uuid.uuid4().hex[:8]
    topics = [f"lag-orders-{suffix}", f"lag-inventory-{suffix}"]
    ensure_topics(layout.bootstrap_servers, topics, 4)
    settings = load_settings(ConsumerSettings, {
        "bootstrap_servers": layout.bootstrap_servers, "group_id": f"lag-{suffix}", "orders_topic": topics[0],
        "inventory_topic": topics[1], "dlq_topic": f"lag-dlq-{suffix}", "metrics_port": 0})  # fmt: skip
    producer_settings = load_settings(ProducerSettings, {
        "bootstrap_servers": layout.bootstrap_servers, "orders_topic": topics[0],
        "inventory_topic": topics[1], "spool_dir": tmp_path / "spool"})  # fmt: skip

    def send(n: int, tag: str) -> None:
        with EventProducer(producer_settings, metrics=ProducerMetrics.on(CollectorRegistry())) as producer:
            for i in range(n):
                producer.emit(InventoryEvent.restock(sku=f"L-{suffix}-{tag}-{i}", warehouse="w1", quantity=1))
            assert producer.flush(30) == 0

    send(600, "a")
    consumer = SinkConsumer(settings, layout.write_dsn())
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 90
    while consumer.totals.applied < 600:
        assert time.monotonic() < deadline, "the consumer did not apply the first events"
        time.sleep(0.3)
    lag_metric = {
        (s.labels["topic"], int(s.labels["partition"])): s.value
        for metric in consumer.metrics_registry.collect()
        if metric.name == "floodwall_consumer_lag_events"
        for s in metric.samples
    }
    consumer.stop()
    worker.join(timeout=30)
    send(250, "b")  # left unconsumed: 250 events of lag

    tool = consumer_group_command(stack.settings, settings.group_id)
    admin = AdminClient({"bootstrap.servers": layout.bootstrap_servers})
    ours = read_group_positions(admin, settings.group_id, topics, timeout_s=10)
    ours_rows = {(p.topic, p.partition): (p.committed_offset, p.end_offset - p.committed_offset)
                 for p in ours if p.committed_offset is not None}  # fmt: skip
    assert ours_rows == tool
    assert sum(lag for _, lag in tool.values()) == 250
    # While it ran, the consumer's own metric said what the tool says of the committed position: caught up.
    assert lag_metric and set(lag_metric.values()) == {0.0}
    assert set(lag_metric) <= set(tool)

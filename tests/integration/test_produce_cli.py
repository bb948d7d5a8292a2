"""`floodwall produce`: JSON lines in, a summary of accepted and rejected lines out."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.loop import SinkConsumer
from floodwall.settings import load_settings
from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import clean_env, floodwall
from tests.integration.conftest import RunningStack
from tests.integration.kafka_reading import decode_single_object, load_schema, read_topic

pytestmark = pytest.mark.integration

ORDER = str(uuid.uuid4())


def lines() -> list[str]:
    return [
        json.dumps({"type": "order.placed", "order_id": ORDER, "customer_id": "c-1", "region": "eu",
                    "currency": "EUR", "items": [{"sku": "A", "quantity": 2, "unit_price_minor": 150}]}),
        "{not json",
        json.dumps({"type": "inventory.restock", "sku": "A", "warehouse": "w1", "quantity": 10}),
        json.dumps({"type": "order.placed", "order_id": ORDER, "customer_id": "c-1", "region": "eu",
                    "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 1.5}]}),
        "",
        json.dumps({"type": "inventory.reservation", "sku": "A", "warehouse": "w1", "quantity": 2,
                    "order_id": ORDER}),
    ]  # fmt: skip


def test_produce_from_a_file(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = Layout(stack.settings).bootstrap_servers
    orders, inventory = f"cli-orders-{uuid.uuid4().hex[:6]}", f"cli-inventory-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [orders, inventory], 3)
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines()) + "\n")
    flags = ["--bootstrap-servers", bootstrap, "--orders-topic", orders, "--inventory-topic", inventory,
             "--spool-dir", str(tmp_path / "spool")]  # fmt: skip
    result = floodwall("produce", str(source), *flags)
    assert result.returncode == 1, result.stderr  # two lines were rejected
    assert "accepted 3 of 5 events: 3 acknowledged by the broker, 0 spooled" in result.stdout
    assert "line 2: not JSON" in result.stdout
    assert "line 4: items[0].unit_price_minor: must be an integer amount of minor units" in result.stdout
    assert "Traceback" not in result.stderr
    assert len(read_topic(bootstrap, orders, expect=2, timeout_s=5)) == 1
    assert len(read_topic(bootstrap, inventory, expect=3, timeout_s=5)) == 2


def test_produce_from_stdin_all_valid(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = Layout(stack.settings).bootstrap_servers
    inventory = f"cli-stdin-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [inventory], 3)
    payload = "\n".join(
        json.dumps({"type": "inventory.restock", "sku": f"S{n}", "warehouse": "w1", "quantity": n + 1})
        for n in range(25)
    )
    result = subprocess.run(
        [sys.executable, "-m", "floodwall", "produce", "--bootstrap-servers", bootstrap,
         "--inventory-topic", inventory, "--spool-dir", str(tmp_path / "spool")],
        input=payload, capture_output=True, text=True, timeout=120, env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepted 25 of 25 events: 25 acknowledged" in result.stdout
    assert len(read_topic(bootstrap, inventory, expect=25)) == 25


def test_produce_missing_file_is_one_line(tmp_path: Path) -> None:
    result = floodwall("produce", str(tmp_path / "nope.jsonl"), "--spool-dir", str(tmp_path / "spool"))
    assert result.returncode == 1
    assert (
        result.stderr.strip().startswith("floodwall: error: cannot read") and "Traceback" not in result.stderr
    )


def _restock(sku: str, quantity: int) -> str:
    return json.dumps({"type": "inventory.restock", "sku": sku, "warehouse": "w1", "quantity": quantity})


def _event_ids(bootstrap: str, topic: str, schema_name: str, expect: int) -> list[str]:
    fingerprint, schema = load_schema(schema_name)
    return [str(decode_single_object(m.value, fingerprint, schema)["event_id"])
            for m in read_topic(bootstrap, topic, expect=expect)]  # fmt: skip


def _sink_everything(stack: RunningStack, orders: str, inventory: str, messages: int) -> SinkConsumer:
    """Run the real sink until it has handled ``messages`` messages; return it (stopped) for its totals."""
    layout = Layout(stack.settings)
    settings = load_settings(ConsumerSettings, {
        "bootstrap_servers": layout.bootstrap_servers, "group_id": f"sink-{orders}", "orders_topic": orders,
        "inventory_topic": inventory, "dlq_topic": f"{orders}-dlq", "metrics_port": 0,
        "state_dir": stack.settings.state_dir})  # fmt: skip
    ensure_topics(layout.bootstrap_servers, [settings.dlq_topic], 1)
    consumer = SinkConsumer(settings, layout.write_dsn())
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 90
        while (t := consumer.totals).applied + t.rejected + t.duplicates + t.dead_letters < messages:
            assert time.monotonic() < deadline, f"the sink handled only part of the {messages} messages: {t}"
            time.sleep(0.2)
    finally:
        consumer.stop()
        worker.join(timeout=30)
    return consumer


def test_a_rerun_with_content_ids_after_a_partial_failure_applies_each_event_once(
    stack: RunningStack, tmp_path: Path
) -> None:
    bootstrap = Layout(stack.settings).bootstrap_servers
    suffix = uuid.uuid4().hex[:6]
    orders, inventory, sku = f"rerun-orders-{suffix}", f"rerun-inventory-{suffix}", f"RERUN-{suffix}"
    ensure_topics(bootstrap, [orders, inventory], 3)
    order = str(uuid.uuid4())
    placed = json.dumps(
        {
            "type": "order.placed",
            "order_id": order,
            "customer_id": "c-1",
            "region": "eu",
            "currency": "EUR",
            "items": [{"sku": sku, "quantity": 1, "unit_price_minor": 250}],
        }
    )
    paid = json.dumps({"type": "order.paid", "order_id": order, "customer_id": "c-1", "region": "eu",
                       "currency": "EUR", "amount_minor": 250})  # fmt: skip
    source = tmp_path / "events.jsonl"
    # Two identical restocks on purpose: two events, not one.
    first = [_restock(sku, 5), _restock(sku, 7), "{truncated", _restock(sku, 5),
             '{"type": "inventory.restok"}', placed, paid]  # fmt: skip
    source.write_text("\n".join(first) + "\n")
    flags = ["--event-ids", "content", "--bootstrap-servers", bootstrap, "--orders-topic", orders,
             "--inventory-topic", inventory, "--spool-dir", str(tmp_path / "spool")]  # fmt: skip

    partial = floodwall("produce", str(source), *flags)
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert "accepted 5 of 7 events: 5 acknowledged by the broker, 0 spooled" in partial.stdout
    assert "  line 3: not JSON" in partial.stdout and "  line 5: type: must be one of" in partial.stdout
    assert "exit status 1" in partial.stdout and "Traceback" not in partial.stderr

    # The user repairs the file the usual ways: fixes line 3 in place, deletes line 5 (later lines shift).
    fixed = [_restock(sku, 5), _restock(sku, 7), _restock(sku, 3), _restock(sku, 5), placed, paid]
    source.write_text("\n".join(fixed) + "\n")
    rerun = floodwall("produce", str(source), *flags)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "accepted 6 of 6 events: 6 acknowledged by the broker, 0 spooled" in rerun.stdout

    # On the wire: every event of the first run again, under the same id, plus the repaired line's.
    sent = _event_ids(bootstrap, inventory, "inventory_event", 7) + _event_ids(
        bootstrap, orders, "order_event", 4
    )
    assert len(sent) == 11 and len(set(sent)) == 6

    sink = _sink_everything(stack, orders, inventory, messages=11)
    assert (sink.totals.applied, sink.totals.duplicates) == (6, 5)
    with psycopg.connect(Layout(stack.settings).write_dsn()) as conn:
        rows = conn.execute(
            "SELECT event_id::text, count(*) FROM processed_events WHERE source_topic = ANY(%s) GROUP BY 1",
            ([orders, inventory],),
        ).fetchall()
        stock = conn.execute("SELECT available FROM stock_levels WHERE sku = %s", (sku,)).fetchone()
        status = conn.execute("SELECT status FROM orders WHERE order_id = %s", (order,)).fetchone()
    assert sorted(r[0] for r in rows) == sorted(set(sent)) and all(r[1] == 1 for r in rows)
    assert stock == (5 + 7 + 3 + 5,)  # each restock once: a re-run did not double the stock
    assert status == ("paid",)

"""`floodwall produce`: JSON lines in, a summary of accepted and rejected lines out."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from floodwall.stack.layout import Layout
from floodwall.topics import ensure_topics
from tests.helpers import clean_env, floodwall
from tests.integration.conftest import RunningStack
from tests.integration.kafka_reading import read_topic

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

"""Every dashboard panel's query, evaluated against the local stack's real Prometheus while the real
autoscaler, its consumers and a short load run: none may come back empty (no silently broken panel)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from confluent_kafka import Producer

from floodwall.monitoring.dashboards import PanelQuery, panel_queries
from floodwall.stack.layout import Layout
from floodwall.stack.probes import http_get
from floodwall.topics import ensure_topics
from tests.helpers import clean_env, floodwall
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def evaluate(prometheus: str, query: PanelQuery) -> list[object]:
    status, body = http_get(f"{prometheus}/api/v1/query?query={quote(query.resolved)}", timeout_s=10)
    assert status == 200, f"{query.panel}: {body[:300]!r}"
    result = json.loads(body)["data"]["result"]
    assert isinstance(result, list)
    return result


def test_every_dashboard_query_returns_data_from_the_live_pipeline(
    stack: RunningStack, tmp_path: Path
) -> None:
    layout = Layout(stack.settings)
    suffix = uuid.uuid4().hex[:8]
    group, topics = (
        f"dash-{suffix}",
        [f"dash-orders-{suffix}", f"dash-inventory-{suffix}", f"dash-dlq-{suffix}"],
    )
    ensure_topics(layout.bootstrap_servers, topics, 4)
    state_dir = str(stack.settings.state_dir)
    scaler = subprocess.Popen(
        [sys.executable, "-m", "floodwall", "autoscale", "--state-dir", state_dir, "--group-id", group,
         "--bootstrap-servers", layout.bootstrap_servers, "--orders-topic", topics[0],
         "--inventory-topic", topics[1], "--tick-s", "1", "--max-replicas", "2", "--metrics-port", "0",
         "--write-budget-rows-per-s", "20000", "--consumer-log-dir", str(tmp_path / "consumers"),
         "--consumer-args", f"--dlq-topic {topics[2]}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "autoscaler.log").open("w"), env=clean_env(),
    )  # fmt: skip
    try:
        # A short flash sale with hot SKUs (rejected reservations), plus poison for the DLQ panels.
        load = floodwall("loadgen", "run", "--profile", "flash-sale", "--rate", "800", "--duration", "20",
                         "--state-dir", state_dir, "--group-id", group, "--orders-topic", topics[0],
                         "--inventory-topic", topics[1], "--namespace", f"dash{suffix}",
                         "--report-dir", str(tmp_path / "report"), timeout=300)  # fmt: skip
        assert load.returncode == 0, load.stdout[-2000:] + load.stderr[-2000:]
        poison = Producer({"bootstrap.servers": layout.bootstrap_servers})
        for _ in range(3):
            poison.produce(topics[0], b"\x00not avro", b"k")
        assert poison.flush(10) == 0

        queries = panel_queries()
        empty = [q for q in queries if not q.resolved.strip()]
        assert not empty
        deadline = time.monotonic() + 120  # rate() windows need two scrapes (5 s apart) of each series
        while True:
            missing = [q for q in queries if not evaluate(layout.prometheus_url, q)]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert not missing, "panels with no data: " + "; ".join(f"{q.panel} [{q.resolved}]" for q in missing)
    finally:
        scaler.send_signal(signal.SIGTERM)
        try:
            scaler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            scaler.kill()
    assert scaler.returncode == 0, (tmp_path / "autoscaler.log").read_text()[-3000:]

"""The local stack against real processes: readiness, status, idempotence, schema, down/up."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from floodwall.db.migrate import available_migrations
from floodwall.stack.down import stack_down
from floodwall.stack.layout import Layout
from floodwall.stack.procs import is_running
from floodwall.stack.state import load_state
from floodwall.stack.up import stack_up
from tests.helpers import floodwall
from tests.integration.conftest import RunningStack, free_port_block, port_flags

pytestmark = pytest.mark.integration


def status_json(state_dir: Path) -> dict[str, object]:
    result = floodwall("stack", "status", "--json", "--state-dir", str(state_dir))
    assert result.returncode in (0, 1), result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def wait_for_prometheus_targets(state_dir: Path, timeout_s: float = 30) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        targets: list[dict[str, str]] = status_json(state_dir)["prometheus"]["targets"]  # type: ignore[index]
        if (targets and all(t["health"] == "up" for t in targets)) or time.monotonic() > deadline:
            return targets
        time.sleep(1)


def test_up_reaches_ready_within_60_s(stack: RunningStack, record_figure: Callable[[str, str], None]) -> None:
    record_figure("stack up (first start) to failover-safe readiness", f"{stack.up_seconds:.1f} s")
    assert stack.up_seconds < 60


def test_status_json_shows_leader_two_streaming_replicas_and_haproxy_on_leader(stack: RunningStack) -> None:
    doc = status_json(stack.settings.state_dir)
    assert doc["running"] is True
    members = doc["patroni"]["members"]  # type: ignore[index]
    assert len(members) == 3
    leaders = [m for m in members if m["role"] == "leader"]
    replicas = [m for m in members if m["role"] != "leader"]
    assert len(leaders) == 1
    assert len(replicas) == 2 and all(m["streaming"] for m in replicas)
    # synchronous_mode: exactly one replica is the synchronous standby
    assert sorted(m["sync_state"] for m in replicas) == ["async", "sync"]
    assert doc["haproxy"]["write_target"] == leaders[0]["name"]  # type: ignore[index]
    assert doc["haproxy"]["backends"]["pg_write"][leaders[0]["name"]] == "UP"  # type: ignore[index]
    s = stack.settings
    topics = doc["broker"]["topics"]  # type: ignore[index]
    assert {name: topics[name] for name in (s.orders_topic, s.inventory_topic, s.dlq_topic)} == {
        s.orders_topic: 12,
        s.inventory_topic: 12,
        s.dlq_topic: 12,
    }


def test_prometheus_scrapes_every_part(stack: RunningStack) -> None:
    targets = wait_for_prometheus_targets(stack.settings.state_dir)
    jobs = {t["job"] for t in targets if t["health"] == "up"}
    assert {"prometheus", "haproxy", "etcd", "patroni"} <= jobs, targets


def test_human_status_table(stack: RunningStack) -> None:
    result = floodwall("stack", "status", "--state-dir", str(stack.settings.state_dir))
    assert result.returncode == 0
    assert "RUNNING" in result.stdout and "HAProxy: write -> n" in result.stdout


def test_up_again_is_idempotent(stack: RunningStack) -> None:
    before = {name: rec.pid for name, rec in stack.state.processes.items()}
    result = floodwall("stack", "up", "--state-dir", str(stack.settings.state_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == len(before)
    after = load_state(stack.settings.state_dir)
    assert after is not None and {n: r.pid for n, r in after.processes.items()} == before


def test_migrate_again_is_a_noop_and_schema_guards_stock(stack: RunningStack) -> None:
    result = floodwall("db", "migrate", "--state-dir", str(stack.settings.state_dir))
    assert result.returncode == 0, result.stderr
    shipped = [m.version for m in available_migrations()]
    assert f"schema up to date (version {shipped[-1]})" in result.stdout
    dsn = Layout(stack.settings).write_dsn()
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("SELECT version FROM floodwall_schema_migrations ORDER BY 1").fetchall()
        assert versions == [(v,) for v in shipped]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO stock_levels (sku, warehouse, available) VALUES ('SKU-1', 'W1', -1)")


def test_logs_command_shows_a_part(stack: RunningStack) -> None:
    result = floodwall("stack", "logs", "patroni-n1", "-n", "5", "--state-dir", str(stack.settings.state_dir))
    assert result.returncode == 0 and result.stdout.strip()
    bad = floodwall("stack", "logs", "nope", "--state-dir", str(stack.settings.state_dir))
    assert bad.returncode == 1 and "patroni-n1" in bad.stderr


def _stack_processes(state_dir: Path) -> list[str]:
    """Every live process whose command line mentions the state dir (or is a postgres under it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (proc / "stat").read_text()
        except OSError:
            continue
        if str(state_dir) in cmdline and status[status.rindex(")") + 2] != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_down_stops_everything_and_up_reuses_data(stack: RunningStack) -> None:
    state_dir = stack.settings.state_dir
    dsn = Layout(stack.settings).owner_dsn()  # DDL: the schema owner
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lifecycle_probe (note text)")
        conn.execute("INSERT INTO lifecycle_probe VALUES ('survives down/up')")
    state = load_state(state_dir)
    assert state is not None
    records = list(state.processes.values())

    stack_down(state, say=print)

    assert not any(is_running(r) for r in records)
    assert _stack_processes(state_dir) == []
    stack.state = stack_up(stack.settings, say=print)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT note FROM lifecycle_probe").fetchall()
        assert rows == [("survives down/up",)]
        conn.execute("DROP TABLE lifecycle_probe")


def test_a_part_dying_at_start_is_named_with_its_log() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="floodwall-test-fail-", dir="/var/tmp"))
    state_dir.chmod(0o755)
    flags = port_flags(free_port_block())
    try:
        result = floodwall(
            "stack", "up", "--state-dir", str(state_dir), *flags, "--prometheus-bin", "/bin/false"
        )
        assert result.returncode == 1
        assert "prometheus exited during start-up" in result.stderr
        assert f"log: {state_dir}/logs/prometheus.log" in result.stderr
        assert "Traceback" not in result.stderr
        assert "keep running" in result.stderr and "floodwall stack down" in result.stderr
        down = floodwall("stack", "down", "--purge", "--state-dir", str(state_dir))
        assert down.returncode == 0 and "purged" in down.stdout
        assert not state_dir.exists()
        assert _stack_processes(state_dir) == []
    finally:
        state = load_state(state_dir) if state_dir.exists() else None
        if state is not None:
            stack_down(state, say=lambda _: None)
        shutil.rmtree(state_dir, ignore_errors=True)

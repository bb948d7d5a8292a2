"""Security on the real stack (issue 12): a private state directory, a Patroni REST API that refuses
unsafe calls without the generated password, and a runtime database role with DML only.

Every unsafe call here is harmless should it get through: a switchover to a member that does not exist,
a restart only "if PostgreSQL is older than 9.6", a PATCH of /config to the value it already has, a
reload of an unchanged config; so a failure here never disturbs the session stack for other tests.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest
from psycopg import errors

from floodwall.db.roles import RUNTIME_GROUP_ROLE
from floodwall.privatefs import exposed
from floodwall.stack.filemodes import traversal_dirs
from floodwall.stack.layout import PATRONI_API_USER, Layout
from floodwall.stack.parts import pg_os_user
from floodwall.stack.provision import provision_database
from floodwall.stack.state import load_or_create_secrets
from tests.integration.conftest import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.security]


def test_no_file_of_the_state_dir_is_readable_by_others(stack: RunningStack) -> None:
    layout = Layout(stack.settings)
    root = layout.root
    # The walk must cover the parts that hold secrets and events, or it would prove nothing.
    node, broker = layout.nodes[0], layout.brokers[0]
    must_see = [layout.secrets_file, layout.client_pgpass, layout.state_file, layout.log_file("haproxy"),
                node.config_file, node.data_dir, broker.formatted]  # fmt: skip
    for present in must_see:
        assert present.exists(), f"{present} is missing: the walk would not see it"
    offenders = exposed(root, traversal_dirs(layout, pg_os_user(layout)))
    assert offenders == [], "group/other can read or enter:\n" + "\n".join(offenders)


def _call(url: str, method: str, body: object | None = None, password: str | None = None) -> int:
    """The HTTP status of an unsafe REST call, optionally with basic auth."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if password is not None:
        token = base64.b64encode(f"{PATRONI_API_USER}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_patroni_refuses_unsafe_calls_without_the_password(stack: RunningStack) -> None:
    layout = Layout(stack.settings)
    password = load_or_create_secrets(layout).patroni_api
    node = layout.nodes[0]
    with urllib.request.urlopen(node.rest_url + "/config", timeout=10) as resp:  # GET: open to all
        loop_wait = json.load(resp)["loop_wait"]
    nobody = {"leader": "nobody", "candidate": "nobody"}
    for password_sent in (None, "wrong-" + password):
        assert _call(node.rest_url + "/switchover", "POST", nobody, password_sent) == 401
        assert _call(node.rest_url + "/restart", "POST", {"postgres_version": "9.6.24"}, password_sent) == 401
        assert _call(node.rest_url + "/config", "PATCH", {"loop_wait": loop_wait}, password_sent) == 401
        assert _call(node.rest_url + "/reload", "POST", None, password_sent) == 401
    # With the password the same calls are accepted (and change nothing).
    assert _call(node.rest_url + "/config", "PATCH", {"loop_wait": loop_wait}, password) == 200
    assert _call(node.rest_url + "/reload", "POST", None, password) == 202
    # Health checks stay open: HAProxy's OPTIONS and the probes' GETs.
    assert _call(node.rest_url + "/patroni", "GET") == 200
    assert _call(node.rest_url + "/health", "OPTIONS") == 200


def test_patronictl_uses_the_password_from_the_patroni_config(stack: RunningStack) -> None:
    layout = Layout(stack.settings)
    replica = next(n for n in layout.nodes if n.name != _leader_name(layout))
    done = subprocess.run(
        ["patronictl", "-c", str(replica.config_file), "reload", "floodwall", replica.name, "--force"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Reload request received" in done.stdout, done.stdout


def _leader_name(layout: Layout) -> str:
    with urllib.request.urlopen(layout.nodes[0].rest_url + "/cluster", timeout=10) as resp:
        members = json.load(resp)["members"]
    return str(next(m["name"] for m in members if m["role"] == "leader"))


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE security_probe (x int)",
        "DROP TABLE orders",
        "ALTER TABLE orders ADD COLUMN note text",
        "CREATE INDEX ON orders (region)",
        "TRUNCATE sink_offsets",
        "DELETE FROM processed_events",
        "CREATE SCHEMA intruder",
        "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
)
def test_the_runtime_role_cannot_change_the_schema(stack: RunningStack, statement: str) -> None:
    with (
        psycopg.connect(Layout(stack.settings).write_dsn()) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(statement.encode())


def test_the_runtime_role_can_do_the_sinks_dml_and_owns_nothing(stack: RunningStack) -> None:
    layout = Layout(stack.settings)
    sku, event = f"SEC-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    with psycopg.connect(layout.write_dsn()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (stack.settings.db_user,)
        owned = conn.execute("SELECT tablename FROM pg_tables WHERE tableowner = current_user").fetchall()
        assert owned == []
        with conn.transaction(force_rollback=True):
            conn.execute(
                "INSERT INTO stock_levels (sku, warehouse, available) VALUES (%s, 'W', 5) "
                "ON CONFLICT (sku, warehouse) DO UPDATE SET available = EXCLUDED.available",
                (sku,),
            )
            conn.execute("SELECT available FROM stock_levels WHERE sku = %s FOR UPDATE", (sku,))
            conn.execute("UPDATE stock_levels SET available = available - 1 WHERE sku = %s", (sku,))
            conn.execute(
                "INSERT INTO processed_events (event_id, event_type, outcome, source_topic, "
                "source_partition, source_offset, occurred_at) "
                "VALUES (%s, 'restock', 'applied', 't', 0, 0, now())",
                (event,),
            )
            columns = "event_id, sku, warehouse, kind, quantity_delta, outcome, occurred_at"
            with conn.cursor().copy(f"COPY inventory_ledger ({columns}) FROM STDIN".encode()) as copy:
                copy.write_row((event, sku, "W", "restock", 5, "applied", "2024-01-01T00:00:00Z"))
            row = conn.execute("SELECT available FROM stock_levels WHERE sku = %s", (sku,)).fetchone()
            assert row == (4,)
            conn.execute(
                "CREATE TEMPORARY TABLE lg_probe (x int) ON COMMIT DROP"
            )  # loadgen verify needs TEMP


def test_the_owner_role_owns_the_schema(stack: RunningStack) -> None:
    with psycopg.connect(Layout(stack.settings).owner_dsn()) as conn:
        rows = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    owners = {owner for _, owner in rows}
    assert {name for name, _ in rows} >= {"orders", "sink_offsets", "floodwall_schema_migrations"}
    assert owners == {stack.settings.db_owner}, rows


def test_provisioning_hands_a_one_role_layout_over_to_the_owner(stack: RunningStack) -> None:
    """Releases before the two roles let the runtime role own the tables: `stack up` converts that."""
    layout = Layout(stack.settings)
    s = stack.settings
    table = f"legacy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(layout.write_dsn(user="postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (x int)".encode())
        conn.execute(f"ALTER TABLE {table} OWNER TO {s.db_user}".encode())
    try:
        provision_database(layout, load_or_create_secrets(layout))
        with psycopg.connect(layout.write_dsn(user="postgres"), autocommit=True) as conn:
            owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,)).fetchone()
            member = conn.execute(
                "SELECT pg_has_role(%s, %s, 'MEMBER')", (s.db_user, RUNTIME_GROUP_ROLE)
            ).fetchone()
        assert owner == (s.db_owner,) and member == (True,)
    finally:
        with psycopg.connect(layout.write_dsn(user="postgres"), autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}".encode())

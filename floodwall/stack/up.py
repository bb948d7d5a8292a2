"""``floodwall stack up``: start what is not running, wait for readiness, create topics, migrate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from floodwall.db.migrate import migrate
from floodwall.errors import StackError
from floodwall.stack import probes
from floodwall.stack.config import StackSettings
from floodwall.stack.filemodes import secure_state_dir
from floodwall.stack.layout import Layout
from floodwall.stack.parts import Part, build_parts, pg_os_user
from floodwall.stack.procs import ProcessRecord, is_running, spawn, tail
from floodwall.stack.provision import provision_database
from floodwall.stack.state import StackState, load_or_create_secrets, load_state, write_client_pgpass
from floodwall.topics import DEFAULT_DLQ_RETENTION_DAYS, dlq_topic_config, ensure_topics

T = TypeVar("T")
Say = Callable[[str], None]


def stack_up(requested: StackSettings, say: Say = print) -> StackState:
    """Bring the stack to "ready": every part serving, a leader accepting writes through HAProxy, all
    replicas streaming, topics created and the schema migrated. Idempotent: running parts are kept.

    Raises StackError naming the part that failed, why, and where its log is.
    """
    started = time.monotonic()
    state = _adopt_state(requested, say)
    layout = state.layout
    narrowed = secure_state_dir(layout, pg_os_user(layout))
    if narrowed:
        say(f"  made {len(narrowed)} file(s) and directories of {layout.root} private (owner only)")
    secrets = load_or_create_secrets(layout)
    write_client_pgpass(layout, secrets)
    parts = build_parts(layout, secrets)
    to_start = [p for p in parts if not _running(state, p.name)]
    _warn_ephemeral_ports(to_start, say)
    _check_ports_free(to_start)
    starting = {p.name for p in to_start}
    deadline = time.monotonic() + state.settings.ready_timeout_s

    for part in parts:
        if part.name not in starting:
            say(f"  {part.name:<13} already running (pid {state.processes[part.name].pid})")
            continue
        part.prepare()
        state.processes[part.name] = spawn(part.argv, layout.log_file(part.name), part.run_as, part.cwd)
        state.save()
        say(f"  {part.name:<13} started (pid {state.processes[part.name].pid})")
    for part in parts:
        _wait(f"{part.name} to serve", part.ready, deadline, state, [part.name], say)
    say(f"  all processes serving ({time.monotonic() - started:.1f} s)")

    pg_parts = [p.name for p in parts if p.name.startswith("patroni-")]
    watch = [*pg_parts, "haproxy"]
    _wait(
        "a primary accepting writes through HAProxy",
        lambda: probes.write_port_accepts_write(layout),
        deadline,
        state,
        watch,
        say,
    )
    elapsed = time.monotonic() - started
    say(f"  write port {state.settings.haproxy_write_port} accepts writes ({elapsed:.1f} s)")
    replicas = _wait(
        "all replicas to stream (one synchronously)",
        lambda: _all_streaming(layout),
        deadline,
        state,
        watch,
        say,
    )
    say(
        f"  {len(replicas)} replica(s) streaming: {', '.join(replicas) or '-'} "
        f"({time.monotonic() - started:.1f} s)"
    )

    s = state.settings
    topics = ensure_topics(
        layout.bootstrap_servers,
        [s.orders_topic, s.inventory_topic, s.dlq_topic],
        s.partitions,
        replication_factor=layout.replication_factor,
        config={"min.insync.replicas": str(layout.min_insync_replicas)},
        enforced={s.dlq_topic: dlq_topic_config(DEFAULT_DLQ_RETENTION_DAYS)},
    )
    say("  topics: " + ", ".join(f"{t.name} ({t.partitions} partitions, {t.outcome})" for t in topics))
    brokers = [p.name for p in parts if p.name.startswith("broker-")]
    _wait("the consumer group coordinator", lambda: probes.group_coordinator_ready(layout), deadline, state,
          brokers, say)  # fmt: skip
    provision_database(layout, secrets)
    report = migrate(layout.owner_dsn())
    say(
        f"  database {s.db_name}: schema version {report.version}"
        f" ({'applied ' + str(list(report.applied)) if report.applied else 'up to date'})"
    )
    say(f"stack ready in {time.monotonic() - started:.1f} s (state: {layout.root})")
    return state


def _adopt_state(requested: StackSettings, say: Say) -> StackState:
    """A stack with live processes keeps the settings it was started with; otherwise use ``requested``."""
    previous = load_state(requested.state_dir)
    if previous is None:
        return StackState(settings=requested)
    live = {name: rec for name, rec in previous.processes.items() if is_running(rec)}
    if not live:
        return StackState(settings=requested)
    if previous.settings != requested:
        say(
            "  note: a stack is running in this state_dir; keeping its settings (`stack down` to change them)"
        )
    return StackState(settings=previous.settings, processes=live)


def _running(state: StackState, name: str) -> bool:
    record = state.processes.get(name)
    return record is not None and is_running(record)


def _warn_ephemeral_ports(parts: list[Part], say: Say) -> None:
    """A listening port inside the kernel's ephemeral range can be taken, at random, as the source
    port of an outgoing connection just before the daemon binds it: start-up then fails now and then."""
    low, high = probes.ephemeral_port_range()
    risky = [f"{setting}={port}" for part in parts for setting, port in part.ports if low <= port <= high]
    if risky:
        say(
            f"  warning: {', '.join(risky)} lie in the ephemeral port range {low}-{high}; "
            f"a start may fail at random (ports below {low} avoid this)"
        )


def _check_ports_free(parts: list[Part]) -> None:
    for part in parts:
        for setting, port in part.ports:
            if probes.port_in_use(port):
                raise StackError(
                    f"port {port} ({setting}, for {part.name}) is already in use by another process; "
                    f"free it or choose another port (--{setting.split(' ')[0].replace('_', '-')} or "
                    f"FLOODWALL_{setting.split(' ')[0].upper()})"
                )


def _all_streaming(layout: Layout) -> list[str]:
    """Every replica streams and, in synchronous mode, the cluster is failover-safe.

    Failover-safe means Patroni has *recorded* a synchronous standby in etcd (the ``/sync`` key, shown
    as role ``sync_standby``). PostgreSQL reports ``sync`` in pg_stat_replication a few seconds before
    that; a primary lost inside that window is, rightly, not failed over automatically (no replica
    is known to hold every acknowledged commit), so the stack is not ready before it.
    """
    rows = probes.streaming_replicas(layout)
    streaming = [r["name"] for r in rows if r["state"] == "streaming"]
    expected = len(layout.nodes) - 1
    if len(streaming) < expected:
        raise probes.ProbeFailed(f"{len(streaming)} of {expected} replicas streaming ({rows})")
    if layout.settings.synchronous_mode and expected:
        sync = [m.name for m in probes.patroni_members(layout) if m.role == "sync_standby"]
        if not sync or sync[0] not in streaming:
            raise probes.ProbeFailed("replicas stream but Patroni has not recorded a synchronous standby yet")
    return streaming


def _wait(
    what: str, check: Callable[[], T], deadline: float, state: StackState, watch: list[str], say: Say
) -> T:
    """Poll ``check`` until it passes; fail fast when a watched process dies, or at the deadline.

    Says every 10 s what it is still waiting for and why, so a slow start is never silent.
    """
    last = "no answer yet"
    began = time.monotonic()
    next_report = began + 10
    while True:
        for name in watch:
            record = state.processes[name]
            if not is_running(record):
                raise StackError(_died(name, record))
        try:
            return check()
        except probes.ProbeFailed as exc:
            last = str(exc)
        if time.monotonic() > next_report:
            say(f"  still waiting for {what} ({time.monotonic() - began:.0f} s): {last}")
            next_report += 10
        if time.monotonic() > deadline:
            logs = ", ".join(state.processes[n].log for n in watch)
            raise StackError(
                f"timed out after {state.settings.ready_timeout_s:.0f} s waiting for {what}: {last} "
                f"(logs: {logs})"
            )
        time.sleep(0.25)


def _died(name: str, record: ProcessRecord) -> str:
    lines = [line for line in tail(record.log_path, 40) if line.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    return f"{name} exited during start-up: {last[:300]} (log: {record.log})"

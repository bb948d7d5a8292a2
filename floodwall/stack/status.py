"""``floodwall stack status``: what is running and how healthy it is, as a table or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from floodwall.stack import probes
from floodwall.stack.procs import is_running
from floodwall.stack.state import StackState

T = TypeVar("T")


def _probe(fn: Callable[[], T]) -> tuple[T | None, str | None]:
    try:
        return fn(), None
    except probes.ProbeFailed as exc:
        return None, str(exc)


def collect_status(state: StackState) -> dict[str, Any]:
    """A JSON-ready snapshot of the stack. Each probe is bounded; a down part is reported, not raised."""
    layout = state.layout
    parts = [
        {"name": name, "pid": rec.pid, "up": is_running(rec), "log": rec.log}
        for name, rec in state.processes.items()
    ]
    members, members_err = _probe(lambda: probes.patroni_members(layout))
    replication, _ = _probe(lambda: probes.streaming_replicas(layout))
    streaming = {r["name"]: r for r in replication or []}
    backends, backends_err = _probe(lambda: probes.haproxy_backends(layout))
    topics, topics_err = _probe(lambda: probes.broker_topics(layout))
    targets, targets_err = _probe(lambda: probes.prometheus_targets(layout))
    write_backend = backends.get("pg_write", {}) if backends else {}
    return {
        "state_dir": str(layout.root),
        "running": bool(parts) and all(p["up"] for p in parts),
        "parts": parts,
        "patroni": {
            "members": [
                {
                    "name": m.name,
                    "role": m.role,
                    "state": m.state,
                    "lag_bytes": m.lag_bytes,
                    "timeline": m.timeline,
                    "streaming": streaming.get(m.name, {}).get("state") == "streaming",
                    "sync_state": streaming.get(m.name, {}).get("sync_state"),
                }
                for m in members or []
            ],
            "error": members_err,
        },
        "haproxy": {
            "backends": backends or {},
            "write_target": next((srv for srv, st in write_backend.items() if st.startswith("UP")), None),
            "error": backends_err,
        },
        "broker": {"reachable": topics is not None, "topics": topics or {}, "error": topics_err},
        "prometheus": {"targets": targets or [], "error": targets_err},
        "endpoints": state.endpoints(),
    }


def render_status(status: dict[str, Any]) -> str:
    """The human-readable form of :func:`collect_status`."""
    out = [
        f"Floodwall stack in {status['state_dir']}: {'RUNNING' if status['running'] else 'NOT RUNNING'}",
        "",
    ]
    out.append(f"{'PART':<14} {'STATE':<6} {'PID':>8}  LOG")
    for p in status["parts"]:
        out.append(f"{p['name']:<14} {'up' if p['up'] else 'DOWN':<6} {p['pid']:>8}  {p['log']}")
    if not status["parts"]:
        out.append("(no processes recorded: run `floodwall stack up`)")
    out += ["", "Patroni members:"]
    pat = status["patroni"]
    for m in pat["members"]:
        lag = "-" if m["lag_bytes"] is None else f"{m['lag_bytes']} B"
        repl = "streaming" if m["streaming"] else ""
        out.append(
            f"  {m['name']:<4} {m['role']:<13} {m['state']:<10} lag {lag:<8} {repl} {m['sync_state'] or ''}"
        )
    if pat["error"]:
        out.append(f"  unavailable: {pat['error']}")
    hap = status["haproxy"]
    out += ["", f"HAProxy: write -> {hap['write_target'] or 'NO PRIMARY'}"]
    for proxy, servers in hap["backends"].items():
        out.append(f"  {proxy:<9} " + "  ".join(f"{srv}={st}" for srv, st in servers.items()))
    if hap["error"]:
        out.append(f"  unavailable: {hap['error']}")
    brk = status["broker"]
    out += [
        "",
        f"Broker {status['endpoints']['bootstrap_servers']}: "
        + ("reachable" if brk["reachable"] else f"UNREACHABLE ({brk['error']})"),
    ]
    out += [f"  {name}: {count} partitions" for name, count in sorted(brk["topics"].items())]
    prom = status["prometheus"]
    counts = {h: sum(t["health"] == h for t in prom["targets"]) for h in ("up", "down", "unknown")}
    out += [
        "",
        f"Prometheus {status['endpoints']['prometheus']}: {counts['up']} targets up, "
        f"{counts['down']} down, {counts['unknown']} not scraped yet",
    ]
    out += [f"  down: {t['job']} {t['instance']}" for t in prom["targets"] if t["health"] == "down"]
    if prom["error"]:
        out.append(f"  unavailable: {prom['error']}")
    ep = status["endpoints"]
    out += ["", f"Database (write): {ep['database_url']}", f"Database (read):  {ep['database_read_url']}"]
    return "\n".join(out)

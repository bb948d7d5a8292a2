"""``floodwall stack up | status | down | logs`` — the command-line face of the local stack."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from floodwall.cliargs import add_command_group, add_settings_command, settings_from_args
from floodwall.errors import StackError
from floodwall.stack.config import StackSettings
from floodwall.stack.down import stack_down
from floodwall.stack.procs import is_running, tail
from floodwall.stack.state import StackState, load_state
from floodwall.stack.status import collect_status, render_status
from floodwall.stack.up import stack_up


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(
        commands,
        "stack",
        help="run the local embedded stack (broker, etcd, Patroni x3, HAProxy, Prometheus)",
        description="The local embedded stack: Apache Kafka (1 or 3 KRaft nodes), etcd, Patroni-managed "
        "PostgreSQL nodes, "
        "HAProxy and Prometheus, all on 127.0.0.1, owned by one state directory.",
    )

    add_settings_command(
        sub,
        "up",
        StackSettings,
        _up,
        help="start what is not running and wait until ready",
        description="Start every part that is not running, wait for readiness (a write "
        "through the HAProxy write port, all replicas streaming), create the topics and "
        "apply the database migrations. Safe to re-run.",
    )

    status = add_settings_command(
        sub,
        "status",
        StackSettings,
        _status,
        help="show each part, Patroni roles, HAProxy backends, topics",
        description="Exit status 0 when every part is up, 1 otherwise.",
        only={"state_dir"},
    )
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")

    down = add_settings_command(
        sub,
        "down",
        StackSettings,
        _down,
        help="stop the stack's processes (data kept unless --purge)",
        description="Stop exactly the processes this stack started (by PID), replicas "
        "before the leader, etcd last. Everything is kept on disk (Kafka's logs too): "
        "`up` resumes where `down` left off.",
        only={"state_dir"},
    )
    down.add_argument("--purge", action="store_true", help="also delete the state directory (all data)")

    logs = add_settings_command(
        sub,
        "logs",
        StackSettings,
        _logs,
        help="show the parts' logs",
        description="Print the last lines of one part's log (or of all parts).",
        only={"state_dir"},
    )
    logs.add_argument("part", nargs="?", help="part name, e.g. broker, etcd, patroni-n1, haproxy")
    logs.add_argument("-n", "--lines", type=int, default=20, help="lines per log (default 20)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")


def _require_state(args: argparse.Namespace) -> StackState:
    settings = settings_from_args(StackSettings, args)
    state = load_state(settings.state_dir)
    if state is None:
        raise StackError(f"no stack in {settings.state_dir}; start one with `floodwall stack up`")
    return state


def _up(args: argparse.Namespace) -> int:
    settings = settings_from_args(StackSettings, args)
    print(f"starting the Floodwall stack in {settings.state_dir}", flush=True)
    try:
        stack_up(settings, say=lambda line: print(line, flush=True))
    except StackError as exc:
        state = load_state(settings.state_dir)
        if state is None or not any(is_running(r) for r in state.processes.values()):
            raise
        raise StackError(
            f"{exc}\nThe parts that started keep running: fix the cause and re-run `floodwall stack up`, "
            f"or stop them with `floodwall stack down`."
        ) from None
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = settings_from_args(StackSettings, args)
    state = load_state(settings.state_dir) or StackState(settings=settings)
    status = collect_status(state)
    print(json.dumps(status, indent=2) if args.json else render_status(status))
    return 0 if status["running"] else 1


def _down(args: argparse.Namespace) -> int:
    state = _require_state(args)
    stopped = stack_down(state, purge=args.purge, say=lambda line: print(line, flush=True))
    print(f"stack stopped ({len(stopped)} processes)" if stopped else "nothing was running")
    return 0


def _logs(args: argparse.Namespace) -> int:
    state = _require_state(args)
    layout = state.layout
    names = sorted(p.stem for p in layout.logs_dir.glob("*.log"))
    if args.part and args.part not in names:
        raise StackError(f"no log for part {args.part!r}; parts with logs: {', '.join(names) or 'none'}")
    chosen = [args.part] if args.part else names
    for name in chosen:
        path = layout.log_file(name)
        if len(chosen) > 1:
            print(f"==> {name} ({path}) <==")
        print("\n".join(tail(path, args.lines)))
    if args.follow:
        _follow([layout.log_file(n) for n in chosen])
    return 0


def _follow(paths: list[Path]) -> None:
    offsets = {p: p.stat().st_size if p.exists() else 0 for p in paths}
    while True:
        for path in paths:
            if path.exists() and path.stat().st_size > offsets[path]:
                with path.open("rb") as fh:
                    fh.seek(offsets[path])
                    chunk = fh.read()
                offsets[path] += len(chunk)
                prefix = f"{path.stem}: " if len(paths) > 1 else ""
                for line in chunk.decode(errors="replace").splitlines():
                    sys.stdout.write(prefix + line + "\n")
                sys.stdout.flush()
        time.sleep(0.5)

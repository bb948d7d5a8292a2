"""The stack's state file (``STATE_DIR/stack.json``) and its generated secrets.

The state file records the settings the stack was started with, its endpoints and the PID + start time
of every process it owns, so ``status``, ``down`` and ``logs`` (and the other services) find the stack
from the state directory alone. Passwords live in a separate 0600 file, never in the state file.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floodwall.errors import StackError
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import HOST, Layout
from floodwall.stack.procs import ProcessRecord

STATE_VERSION = 1


@dataclass
class StackState:
    """Mutable record of a stack instance; saved after every change so a crash loses nothing."""

    settings: StackSettings
    processes: dict[str, ProcessRecord] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        return Layout(self.settings)

    def endpoints(self) -> dict[str, Any]:
        lay = self.layout
        s = self.settings
        return {
            "bootstrap_servers": lay.bootstrap_servers,
            "database_url": lay.write_dsn(),
            "database_read_url": lay.read_dsn(),
            "haproxy_write": f"{HOST}:{s.haproxy_write_port}",
            "haproxy_read": f"{HOST}:{s.haproxy_read_port}",
            "haproxy_stats": lay.haproxy_stats_url + "/stats",
            "prometheus": lay.prometheus_url,
            "etcd": lay.etcd_url,
            "patroni": {n.name: n.rest_url for n in lay.nodes},
            "topics": {"orders": s.orders_topic, "inventory": s.inventory_topic, "dlq": s.dlq_topic},
        }

    def save(self) -> None:
        path = self.layout.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": STATE_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "endpoints": self.endpoints(),
            "processes": {name: rec.to_json() for name, rec in self.processes.items()},
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n")
        os.replace(tmp, path)


def load_state(state_dir: Path) -> StackState | None:
    """The state recorded in ``state_dir``, or None when no stack was ever started there.

    Raises StackError when the file exists but cannot be understood.
    """
    path = state_dir / "stack.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StackError(
            f"state file {path} is unreadable ({exc}); remove it or use another state_dir"
        ) from None
    if document.get("version") != STATE_VERSION:
        raise StackError(f"state file {path} has version {document.get('version')}, expected {STATE_VERSION}")
    settings = StackSettings.model_validate({**document["settings"], "state_dir": str(state_dir)})
    processes = {k: ProcessRecord.from_json(v) for k, v in document.get("processes", {}).items()}
    return StackState(settings=settings, processes=processes)


@dataclass(frozen=True)
class Secrets:
    """Passwords generated for this stack on first start."""

    superuser: str
    replication: str
    rewind: str
    app: str


def load_or_create_secrets(layout: Layout) -> Secrets:
    """Read the stack's passwords, generating them (0600 file) the first time."""
    path = layout.secrets_file
    if path.exists():
        data = json.loads(path.read_text())
        return Secrets(**data)
    made = Secrets(*(secrets.token_urlsafe(24) for _ in range(4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(made.__dict__, fh)
    return made


def write_client_pgpass(layout: Layout, pw: Secrets) -> None:
    """pgpass for clients of the HAProxy ports: the app role and the superuser (for migrations/admin)."""
    s = layout.settings
    lines = []
    for port in (s.haproxy_write_port, s.haproxy_read_port):
        lines.append(f"{HOST}:{port}:*:{s.db_user}:{pw.app}")
        lines.append(f"{HOST}:{port}:*:postgres:{pw.superuser}")
    for node in layout.nodes:
        lines.append(f"{HOST}:{node.pg_port}:*:postgres:{pw.superuser}")
    fd = os.open(layout.client_pgpass, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")

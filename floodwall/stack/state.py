"""The stack's state file (``STATE_DIR/stack.json``) and its generated secrets.

The state file records the settings the stack was started with, its endpoints and the PID + start time
of every process it owns, so ``status``, ``down`` and ``logs`` (and the other services) find the stack
from the state directory alone. Passwords live in a separate 0600 file, never in the state file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from floodwall.errors import StackError
from floodwall.localstack import STATE_VERSION, read_state_document
from floodwall.privatefs import write_private
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import HOST, Layout
from floodwall.stack.procs import ProcessRecord


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
            "database_owner_url": lay.owner_dsn(),
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
        document = {
            "version": STATE_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "endpoints": self.endpoints(),
            "processes": {name: rec.to_json() for name, rec in self.processes.items()},
        }
        write_private(self.layout.state_file, json.dumps(document, indent=2) + "\n")


def load_state(state_dir: Path) -> StackState | None:
    """The state recorded in ``state_dir``, or None when no stack was ever started there.

    Raises StackError when the file exists but cannot be understood.
    """
    document = read_state_document(state_dir)
    if document is None:
        return None
    settings = StackSettings.model_validate({**document["settings"], "state_dir": str(state_dir)})
    processes = {k: ProcessRecord.from_json(v) for k, v in document.get("processes", {}).items()}
    return StackState(settings=settings, processes=processes)


@dataclass(frozen=True)
class Secrets:
    """Passwords generated for this stack on first start.

    ``app`` is the runtime role's (``db_user``: the sink's DML), ``owner`` the schema owner's
    (``db_owner``: migrations), ``patroni_api`` guards the Patroni REST API's unsafe endpoints.
    """

    superuser: str
    replication: str
    rewind: str
    app: str
    owner: str
    patroni_api: str


def load_or_create_secrets(layout: Layout) -> Secrets:
    """Read the stack's passwords, generating them (0600 file) the first time.

    A secrets file from an older release lacks the newer passwords: they are generated and added, the
    existing ones kept. Raises StackError when the file exists but is not a JSON object.
    """
    path = layout.secrets_file
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    except (OSError, ValueError) as exc:
        raise StackError(f"secrets file {path} is unreadable ({exc}); remove it to regenerate") from None
    if not isinstance(stored, dict):
        raise StackError(f"secrets file {path} is not a JSON object; remove it to regenerate")
    names = [f.name for f in fields(Secrets)]
    values = {name: str(stored.get(name) or secrets.token_urlsafe(24)) for name in names}
    if any(name not in stored for name in names):
        write_private(path, json.dumps(values) + "\n")
    return Secrets(**values)


def write_client_pgpass(layout: Layout, pw: Secrets) -> None:
    """pgpass for clients of the HAProxy ports: the runtime role, the schema owner (migrations) and the
    superuser (admin)."""
    s = layout.settings
    lines = []
    for port in (s.haproxy_write_port, s.haproxy_read_port):
        lines.append(f"{HOST}:{port}:*:{s.db_user}:{pw.app}")
        lines.append(f"{HOST}:{port}:*:{s.db_owner}:{pw.owner}")
        lines.append(f"{HOST}:{port}:*:postgres:{pw.superuser}")
    for node in layout.nodes:
        lines.append(f"{HOST}:{node.pg_port}:*:postgres:{pw.superuser}")
    write_private(layout.client_pgpass, "\n".join(lines) + "\n")

"""Discovery of a local stack: where it keeps its state, and the endpoints it recorded there.

``floodwall stack up`` writes ``STATE_DIR/stack.json`` (floodwall/stack/state.py), whose ``endpoints``
object is the contract read here. Services use it only to fill a setting left empty (bootstrap servers,
database URL, Prometheus, Patroni), so a service never imports the dev stack itself.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from floodwall.errors import ConfigError, StackError

STATE_VERSION = 1
STATE_FILE = "stack.json"
CLIENT_PGPASS = "pgpass"


def default_state_dir() -> Path:
    """Where the stack keeps its data when ``state_dir`` is not set.

    As root the PostgreSQL processes run as the ``postgres`` user, who cannot traverse ``/root``; so the
    state lives under ``/var/lib``. Other users keep it in their XDG state directory.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/floodwall")
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "floodwall"


def state_dir_field(description: str = "the local stack's state directory") -> Any:
    """The ``state_dir`` setting (default :func:`default_state_dir`), declared alike by every service."""
    return Field(default_factory=default_state_dir, description=description)


def read_state_document(state_dir: Path) -> dict[str, Any] | None:
    """The parsed state file of ``state_dir``, or None when no stack was ever started there.

    Raises StackError when the file exists but cannot be understood (unreadable, or another version).
    """
    path = state_dir / STATE_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StackError(
            f"state file {path} is unreadable ({exc}); remove it or use another state_dir"
        ) from None
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise StackError(f"state file {path} has version {version}, expected {STATE_VERSION}")
    return document


@dataclass(frozen=True)
class LocalStack:
    """The endpoints of the local stack recorded in ``state_dir``."""

    state_dir: Path
    endpoints: dict[str, Any]

    def endpoint(self, name: str) -> str:
        """One recorded endpoint (``bootstrap_servers``, ``prometheus``, …). Raises StackError if absent."""
        value = self.endpoints.get(name)
        if not isinstance(value, str):
            raise StackError(f"state file {self.state_dir / STATE_FILE} records no endpoint {name!r}")
        # The client pgpass is always STATE_DIR/pgpass: a state directory that was moved still works.
        return re.sub(r"passfile=[^&]*", lambda _: f"passfile={self.state_dir / CLIENT_PGPASS}", value)

    @property
    def bootstrap_servers(self) -> str:
        return self.endpoint("bootstrap_servers")

    @property
    def database_url(self) -> str:
        """The HAProxy write port as the runtime role (DML only)."""
        return self.endpoint("database_url")

    @property
    def database_owner_url(self) -> str:
        """The HAProxy write port as the schema owner (migrations and other DDL)."""
        return self.endpoint("database_owner_url")

    @property
    def prometheus_url(self) -> str:
        return self.endpoint("prometheus")

    @property
    def patroni_urls(self) -> tuple[str, ...]:
        """The REST API of every Patroni node, node 1 first."""
        nodes = self.endpoints.get("patroni")
        return tuple(str(url) for url in nodes.values()) if isinstance(nodes, dict) else ()


def find_local_stack(state_dir: Path) -> LocalStack | None:
    """The local stack recorded in ``state_dir``, or None when there is none.

    Raises StackError when the state file exists but cannot be understood.
    """
    document = read_state_document(state_dir)
    if document is None:
        return None
    endpoints = document.get("endpoints")
    return LocalStack(state_dir, endpoints if isinstance(endpoints, dict) else {})


def resolve_endpoint(given: str, state_dir: Path, what: str, pick: str) -> str:
    """``given`` (setting ``what``) if set, else the local stack's endpoint named ``pick``
    (``bootstrap_servers``, ``prometheus``) from ``state_dir``.

    Raises ConfigError naming the setting and its flag when neither exists, StackError when the state file
    cannot be understood or records no such endpoint."""
    if given:
        return given
    stack = find_local_stack(state_dir)
    if stack is None:
        raise ConfigError(
            f"no {what} is set and no local stack exists in {state_dir}; run `floodwall stack up` "
            f"or pass --{what.replace('_', '-')}"
        )
    return stack.endpoint(pick)


def resolve_bootstrap_servers(bootstrap_servers: str, state_dir: Path) -> str:
    """``bootstrap_servers`` if set, else the local stack's (see :func:`resolve_endpoint`)."""
    return resolve_endpoint(bootstrap_servers, state_dir, "bootstrap_servers", "bootstrap_servers")

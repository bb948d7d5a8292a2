"""Let the local stack's Prometheus find a service: a file in its file-discovery directory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from floodwall.privatefs import write_private


def register_target(state_dir: Path, name: str, port: int, labels: dict[str, str]) -> Callable[[], None]:
    """Write ``STATE_DIR/prometheus/targets/<name>-<pid>.json`` when a local stack exists there.

    Returns the function that removes it again (a no-op when no stack was found).
    """
    targets = state_dir / "prometheus" / "targets"
    if not targets.is_dir():
        return lambda: None
    path = targets / f"{name}-{os.getpid()}.json"
    # Atomic (Prometheus must never read a half-written file) and 0600 like every file of the stack.
    write_private(path, json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": labels}]))
    return lambda: path.unlink(missing_ok=True)

"""The stack's Apache Kafka nodes: installation check, cluster identity and storage formatting.

Each node runs KRaft combined mode (broker and controller in one JVM) from the jars that
``scripts/setup.sh`` fetched from Maven Central. The storage of every node is formatted once, for one
cluster id kept in the state directory; after that the data survives ``stack down``/``up`` and a
``kill -9`` of a broker.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

from floodwall.errors import StackError
from floodwall.privatefs import CHILD_UMASK, make_private_dir, write_private
from floodwall.stack import render
from floodwall.stack.layout import KafkaNode, Layout

SETUP_HINT = "run `make setup` (or scripts/setup.sh) from the Floodwall checkout"
FORMAT_TIMEOUT_S = 120.0


def check_installed(lib_dir: Path) -> None:
    """Raise StackError unless ``lib_dir`` holds Apache Kafka's server jar."""
    if not any(lib_dir.glob("kafka_2.13-*.jar")):
        raise StackError(
            f"Apache Kafka is not installed in {lib_dir} (setting kafka_lib_dir); {SETUP_HINT}, "
            f"which fetches it from Maven Central"
        )


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's ``Uuid`` text form).

    Kafka never hands out an id starting with '-' (it would read as a command-line flag); neither do we.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def cluster_id(layout: Layout) -> str:
    """The cluster id this state directory's Kafka storage belongs to, created on the first start.

    Raises StackError when the storage was formatted for another broker count: the controller quorum is
    fixed at format time, so changing it needs a fresh state directory.
    """
    path = layout.kafka_cluster_file
    wanted = len(layout.brokers)
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        recorded = {"cluster_id": new_cluster_id(), "brokers": wanted}
        write_private(path, json.dumps(recorded) + "\n")
    except (OSError, ValueError) as exc:
        raise StackError(f"{path} is unreadable ({exc}); remove {layout.kafka_root} to start anew") from None
    if recorded.get("brokers") != wanted:
        raise StackError(
            f"the Kafka data in {layout.kafka_root} is for {recorded.get('brokers')} broker(s), not {wanted} "
            f"(setting brokers); keep brokers={recorded.get('brokers')}, or `floodwall stack down --purge` "
            f"(deletes all data) or choose another state_dir"
        )
    return str(recorded["cluster_id"])


def prepare_node(layout: Layout, node: KafkaNode, java: str) -> None:
    """Write the node's configs and format its storage unless it already is (idempotent).

    Raises StackError when formatting fails (the message has the tool's last line).
    """
    make_private_dir(node.home)
    write_private(layout.kafka_log4j_config, render.render_kafka_log4j())
    write_private(node.config_file, render.render_kafka_properties(layout, node))
    ident = cluster_id(layout)
    if node.formatted.exists():
        return
    argv = render.kafka_format_argv(layout, node, ident)
    argv[0] = java
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False, umask=CHILD_UMASK
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"cannot format the storage of {node.part}: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise StackError(
            f"formatting the storage of {node.part} failed: {lines[-1] if lines else 'no output'} "
            f"(command: {' '.join(argv)})"
        )

"""Session fixture: one real local stack (Apache Kafka, etcd, 3 Patroni/PostgreSQL nodes, HAProxy, Prometheus)
on free ports and its own state directory, so the tests can run beside a live demo stack."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from floodwall.producers.config import ProducerSettings
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.down import stack_down
from floodwall.stack.layout import Layout
from floodwall.stack.probes import ephemeral_port_range
from floodwall.stack.state import StackState
from floodwall.stack.up import stack_up
from floodwall.topics import ensure_topics

# Offsets inside a block of 40 ports: singles first, then the node ranges (up to 5 nodes each).
_SINGLE_PORTS = {
    "etcd_client_port": 1,
    "etcd_peer_port": 2,
    "haproxy_write_port": 3,
    "haproxy_read_port": 4,
    "haproxy_stats_port": 5,
    "prometheus_port": 6,
}
_NODE_PORTS = {"pg_base_port": 10, "patroni_rest_base_port": 20, "broker_port": 30}  # brokers: 2 each


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int = 40) -> int:
    """Base of ``size`` consecutive free ports away from the stack's defaults (12xxx-19xxx).

    The block lies below the kernel's ephemeral range: a port in it could be taken as the source port
    of some outgoing connection between this check and the daemon's bind.
    """
    rng = random.Random()
    top = min(ephemeral_port_range()[0], 32768)
    for _ in range(200):
        base = rng.randrange(20000, top - size, 50)
        if all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports found")


def port_settings(base: int) -> dict[str, int]:
    """Every port setting of the stack, placed inside the block starting at ``base``."""
    return {name: base + off for name, off in {**_SINGLE_PORTS, **_NODE_PORTS}.items()}


def port_flags(base: int) -> list[str]:
    """The same as command-line flags."""
    return [f"--{name.replace('_', '-')}={port}" for name, port in port_settings(base).items()]


def settings_for_tests(state_dir: Path, base: int, **extra: object) -> StackSettings:
    return load_settings(
        StackSettings, {"state_dir": state_dir, **port_settings(base), "partitions": 12, **extra}
    )


@dataclass
class RunningStack:
    state: StackState
    up_seconds: float

    @property
    def settings(self) -> StackSettings:
        return self.state.settings


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    """The stack as users run it: one Kafka broker, three Patroni/PostgreSQL nodes."""
    yield from running_stack()


@pytest.fixture(scope="module")
def stack3() -> Iterator[RunningStack]:
    """Three Kafka brokers (replication factor 3, min ISR 2) for broker faults, beside one PostgreSQL
    node: these tests fault the buffer, the session stack's tests fault the database."""
    yield from running_stack(brokers=3, pg_nodes=1)


def running_stack(**extra: object) -> Iterator[RunningStack]:
    """A stack of its own (free ports, its own state dir) for as long as the generator runs."""
    for key in [k for k in os.environ if k.startswith("FLOODWALL_")]:
        del os.environ[key]  # a developer's FLOODWALL_* must not steer the test stack
    # Not under pytest's tmp_path: that is 0700 under /tmp and the postgres user could not enter it.
    state_dir = Path(tempfile.mkdtemp(prefix="floodwall-test-", dir="/var/tmp"))
    state_dir.chmod(0o755)
    settings = settings_for_tests(state_dir, free_port_block(), **extra)
    started = time.monotonic()
    lines: list[str] = []
    try:
        state = stack_up(settings, say=lines.append)
    except Exception:
        print("\n".join(lines))
        _teardown(StackState(settings=settings), state_dir)
        raise
    running = RunningStack(state=state, up_seconds=time.monotonic() - started)
    print(f"\nstack up in {running.up_seconds:.1f} s:\n" + "\n".join(lines))
    yield running
    if os.environ.get("KEEP_TEST_STACK"):  # debugging aid: leave the stack up for inspection
        print(f"\nKEEP_TEST_STACK set: test stack left running in {state_dir}")
        return
    _teardown(running.state, state_dir)


def _teardown(state: StackState, state_dir: Path) -> None:
    from floodwall.stack.state import load_state

    recorded = load_state(state_dir) or state
    stack_down(recorded, say=lambda _: None)
    shutil.rmtree(state_dir, ignore_errors=True)


# ---- the SDK against a stack (fresh topics per test) ---------------------------------------------


@pytest.fixture
def topics(stack: RunningStack) -> tuple[str, str]:
    """Fresh topics per test, so counts and offsets belong to this test alone."""
    suffix = uuid.uuid4().hex[:8]
    names = (f"p-orders-{suffix}", f"p-inventory-{suffix}")
    ensure_topics(Layout(stack.settings).bootstrap_servers, list(names), 6)
    return names


@pytest.fixture
def settings(stack: RunningStack, topics: tuple[str, str], tmp_path: Path) -> ProducerSettings:
    return load_settings(
        ProducerSettings,
        {
            "bootstrap_servers": Layout(stack.settings).bootstrap_servers,
            "orders_topic": topics[0],
            "inventory_topic": topics[1],
            "spool_dir": tmp_path / "spool",
            "delivery_timeout_s": 10,
        },
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def producer(settings: ProducerSettings, registry: CollectorRegistry) -> Iterator[EventProducer]:
    with EventProducer(settings, metrics=ProducerMetrics.on(registry)) as made:
        yield made

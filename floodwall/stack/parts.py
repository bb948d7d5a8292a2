"""The stack's parts: what each runs, which ports it binds, how it is prepared and when it is ready."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from floodwall.errors import StackError
from floodwall.monitoring import alert_rules_text
from floodwall.privatefs import make_private_dir, write_private
from floodwall.stack import kafka, probes, render
from floodwall.stack.kafka import SETUP_HINT
from floodwall.stack.layout import KafkaNode, Layout, PgNode
from floodwall.stack.state import Secrets


@dataclass(frozen=True)
class Part:
    """One supervised process of the stack."""

    name: str
    argv: list[str]
    ports: tuple[tuple[str, int], ...]
    prepare: Callable[[], object]
    ready: Callable[[], object]  # raises probes.ProbeFailed until the part serves
    run_as: str | None = None
    cwd: Path | None = None


def resolve_binary(setting: str, value: str, apt_package: str) -> str:
    """Absolute path of an executable, or a StackError naming the setting and the install command."""
    found = shutil.which(value)
    if found:
        return found
    raise StackError(
        f"{value!r} (setting {setting}) was not found; install it with "
        f"`apt-get install {apt_package}` or {SETUP_HINT}"
    )


def _run_by(binary: str, argv: list[str]) -> list[str]:
    """``argv`` as rendered (it starts with the setting's name or path) with the executable resolved."""
    return [binary, *argv[1:]]


def pg_os_user(layout: Layout) -> str | None:
    """The OS user for Patroni/PostgreSQL: the configured one when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    name = layout.settings.postgres_os_user
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise StackError(
            f"OS user {name!r} (setting postgres_os_user) does not exist; it comes with the "
            f"postgresql package ({SETUP_HINT})"
        ) from None
    return name


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _check_traversable(path: Path, user: str | None) -> None:
    """PostgreSQL refuses to run as root, so its user must be able to reach the state directory."""
    if user is None:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise StackError(
                f"the OS user {user!r} cannot enter {parent} (mode {oct(parent.stat().st_mode & 0o777)}); "
                f"choose a state_dir outside it, e.g. /var/lib/floodwall"
            )


def build_parts(layout: Layout, pw: Secrets) -> list[Part]:
    """All parts in start order (a part may depend on the ones before it)."""
    s = layout.settings
    pg_user = pg_os_user(layout)
    java = resolve_binary("java_bin", s.java_bin, "openjdk-17-jre-headless")
    kafka.check_installed(s.kafka_lib_dir)
    etcd = resolve_binary("etcd_bin", s.etcd_bin, "etcd-server")
    parts = [_kafka_part(layout, node, java) for node in layout.brokers]
    parts += [
        Part(
            name="etcd",
            argv=_run_by(etcd, render.etcd_argv(layout)),
            ports=(("etcd_client_port", s.etcd_client_port), ("etcd_peer_port", s.etcd_peer_port)),
            prepare=lambda: make_private_dir(layout.etcd_dir),
            ready=lambda: probes.etcd_healthy(layout),
        ),
    ]
    patroni_bin = resolve_binary("patroni_bin", s.patroni_bin, "patroni python3-etcd")
    if not (s.pg_bin_dir / "postgres").exists():
        raise StackError(
            f"no PostgreSQL binaries in {s.pg_bin_dir} (setting pg_bin_dir); "
            f"install them with `apt-get install postgresql-15`"
        )
    for node in layout.nodes:
        parts.append(_patroni_part(layout, node, pw, patroni_bin, pg_user))
    haproxy = resolve_binary("haproxy_bin", s.haproxy_bin, "haproxy")
    parts.append(
        Part(
            name="haproxy",
            argv=_run_by(haproxy, render.haproxy_argv(layout)),
            ports=(
                ("haproxy_write_port", s.haproxy_write_port),
                ("haproxy_read_port", s.haproxy_read_port),
                ("haproxy_stats_port", s.haproxy_stats_port),
            ),
            prepare=lambda: write_private(layout.haproxy_config, render.render_haproxy(layout)),
            ready=lambda: probes.haproxy_backends(layout),
        )
    )
    prometheus = resolve_binary("prometheus_bin", s.prometheus_bin, "prometheus")
    parts.append(
        Part(
            name="prometheus",
            argv=_run_by(prometheus, render.prometheus_argv(layout)),
            ports=(("prometheus_port", s.prometheus_port),),
            prepare=lambda: _prepare_prometheus(layout),
            ready=lambda: probes.prometheus_ready(layout),
        )
    )
    return parts


def _kafka_part(layout: Layout, node: KafkaNode, java: str) -> Part:
    return Part(
        name=node.part,
        argv=_run_by(java, render.kafka_argv(layout, node)),
        ports=(
            ("broker_port (client port)", node.client_port),
            ("broker_port (controller port)", node.controller_port),
        ),
        prepare=lambda: kafka.prepare_node(layout, node, java),
        # This broker serving and every broker registered: partitions can then be placed on all of them.
        ready=lambda: probes.broker_serves(layout, node),
        cwd=node.home,
    )


def _patroni_part(layout: Layout, node: PgNode, pw: Secrets, patroni_bin: str, pg_user: str | None) -> Part:
    def prepare() -> None:
        # The state directory and pg/ itself are made traversable for pg_user by secure_state_dir.
        _check_traversable(layout.root.parent, pg_user)
        make_private_dir(layout.socket_dir)
        make_private_dir(node.pg_log_dir)  # creates node.home as well
        # The config holds passwords: readable by the PostgreSQL user only.
        write_private(node.config_file, render.render_patroni(layout, node, pw))
        _chown_tree(layout.socket_dir, pg_user)
        _chown_tree(node.home, pg_user)

    return Part(
        name=node.part,
        argv=_run_by(patroni_bin, render.patroni_argv(layout, node)),
        ports=(
            (f"pg_base_port (node {node.name})", node.pg_port),
            (f"patroni_rest_base_port (node {node.name})", node.rest_port),
        ),
        prepare=prepare,
        ready=lambda: probes.patroni_rest_up(node),
        run_as=pg_user,
        cwd=node.home,
    )


def _prepare_prometheus(layout: Layout) -> None:
    write_private(layout.prometheus_config, render.render_prometheus(layout))
    write_private(layout.prometheus_rules, alert_rules_text())
    make_private_dir(layout.prometheus_targets_dir)
    make_private_dir(layout.prometheus_data)

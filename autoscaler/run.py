"""``floodwall autoscale``: build the measurer, policy and actuator from the settings, then run the loop."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

from floodwall.autoscaler.actuators import Actuator
from floodwall.autoscaler.actuators.kubernetes import KubernetesDeployment
from floodwall.autoscaler.actuators.local import LocalFleet
from floodwall.autoscaler.config import AutoscalerSettings, build_policy
from floodwall.autoscaler.daemon import Autoscaler
from floodwall.autoscaler.measure import MeasureConfig, Measurer
from floodwall.autoscaler.metrics import AutoscalerMetrics
from floodwall.httpserve import ServiceHttp
from floodwall.kafkaconn import connection_conf
from floodwall.localstack import find_local_stack
from floodwall.promtargets import register_target

log = logging.getLogger(__name__)


def measure_config(settings: AutoscalerSettings) -> MeasureConfig:
    """Patroni and Prometheus default to the local stack's when one exists in ``state_dir``."""
    patroni = tuple(u.strip() for u in settings.patroni_urls.split(",") if u.strip())
    prometheus = settings.prometheus_url
    stack = find_local_stack(settings.state_dir) if not patroni or not prometheus else None
    if stack is not None:
        patroni = patroni or stack.patroni_urls
        prometheus = prometheus or stack.prometheus_url
    return MeasureConfig(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group_id,
        topics=(settings.orders_topic, settings.inventory_topic),
        patroni_urls=patroni,
        prometheus_url=prometheus,
        connection=connection_conf(settings.kafka_connection),
    )


def consumer_command(settings: AutoscalerSettings) -> list[str]:
    """One local consumer: the same group, topics, stack and budget as the autoscaler was given."""
    command = [
        sys.executable, "-m", "floodwall", "consume",
        "--bootstrap-servers", settings.bootstrap_servers,
        "--group-id", settings.group_id,
        "--orders-topic", settings.orders_topic,
        "--inventory-topic", settings.inventory_topic,
        "--state-dir", str(settings.state_dir),
        "--write-budget-rows-per-s", str(settings.write_budget_rows_per_s),
        "--metrics-port", "0",
    ]  # fmt: skip
    if settings.replica_max_rows_per_s > 0:
        command += ["--replica-max-rows-per-s", str(settings.replica_max_rows_per_s)]
    return command + shlex.split(settings.consumer_args)


def build_actuator(settings: AutoscalerSettings) -> Actuator:
    if settings.actuator == "kubernetes":
        return KubernetesDeployment(settings.k8s_namespace, settings.k8s_deployment)
    log_dir = settings.consumer_log_dir or Path(settings.state_dir) / "logs" / "consumers"
    env = dict(os.environ)
    if settings.kafka_connection:  # to the consumers by environment: secrets stay off command lines
        env["FLOODWALL_KAFKA_CONNECTION"] = json.dumps(connection_conf(settings.kafka_connection))
    return LocalFleet(
        consumer_command(settings), log_dir, env=env, stop_grace_s=settings.consumer_stop_grace_s
    )


def build_autoscaler(settings: AutoscalerSettings, registry: CollectorRegistry) -> Autoscaler:
    """The autoscaler of ``settings``: its measurer, policy and actuator, its metrics in ``registry``.
    ``floodwall autoscale`` and ``floodwall demo`` both run this one."""
    return Autoscaler(
        Measurer(measure_config(settings)),
        build_policy(settings),
        build_actuator(settings),
        AutoscalerMetrics.create(registry),
    )


def run(settings: AutoscalerSettings) -> int:
    """Run until SIGTERM/SIGINT; the local fleet is stopped gracefully on the way out."""
    registry = CollectorRegistry()
    scaler = build_autoscaler(settings, registry)
    policy = scaler.policy
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping (the local fleet, if any, leaves the group)", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def healthy() -> tuple[bool, str]:
        idle = time.monotonic() - scaler.last_tick_s
        # A tick may wait out several timeouts (broker, Patroni, the API server) before it returns.
        return idle < 3 * settings.tick_s + 60, f"last tick {idle:.0f} s ago"

    def ready() -> tuple[bool, str]:
        last = scaler.last_decision
        return last is not None, f"last decision: {last.reason}" if last else "no measurement yet"

    http = ServiceHttp(settings.metrics_host, settings.metrics_port, registry, healthy, ready)
    labels = {"service": "autoscaler", "consumer_group": settings.group_id}  # as the chart labels it
    unregister = register_target(settings.state_dir, "autoscaler", http.port, labels)
    log.info(
        "autoscaler: policy %s, actuator %s, group %s, every %.0f s; metrics on http://%s:%d/metrics",
        policy.name, settings.actuator, settings.group_id, settings.tick_s, settings.metrics_host, http.port,
    )  # fmt: skip
    try:
        scaler.run(settings.tick_s, stopping)
    finally:
        unregister()
        http.close()
    return 0

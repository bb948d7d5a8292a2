"""Settings of the autoscaler (``floodwall autoscale``): the policy and every parameter it uses.

Floodwall-policy parameters carry no prefix; KEDA-compatible ones start with ``keda_`` and default to
KEDA's and Kubernetes' own defaults (kafka_scaler.go, ScaledObject, HPA ``behavior``). ``min_replicas`` and
``max_replicas`` serve both policies (KEDA's minReplicaCount/maxReplicaCount). ``write_budget_rows_per_s``
has the same name and meaning as the consumers' setting, so ``FLOODWALL_WRITE_BUDGET_ROWS_PER_S`` sets both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from floodwall.autoscaler import hpa
from floodwall.autoscaler.calibration import MEASURED, GroupProtocol, ProtocolFigures
from floodwall.autoscaler.policy_floodwall import FloodwallParams, FloodwallPolicy
from floodwall.autoscaler.policy_keda import KedaParams, KedaPolicy
from floodwall.kafkaconn import SinkGroupSettings
from floodwall.localstack import state_dir_field
from floodwall.settings import ServiceSettings

PolicyName = Literal["floodwall", "keda"]
Select = Literal["Max", "Min", "Disabled"]


class AutoscalerSettings(SinkGroupSettings):
    """Which policy decides, and how."""

    section: ClassVar[str] = "autoscaler"

    # ---- what to watch and where to act (the daemon; `autoscale simulate` does not use these) ----
    # The group and its topics come first, from SinkGroupSettings.
    state_dir: Path = state_dir_field()
    actuator: Literal["local", "kubernetes"] = Field(
        "local", description="local: run `floodwall consume` processes here; kubernetes: scale a Deployment"
    )
    k8s_namespace: str = Field("default", min_length=1, description="kubernetes: the consumers' namespace")
    k8s_deployment: str = Field(
        "floodwall-consumers", min_length=1, description="kubernetes: the consumers' Deployment"
    )
    patroni_urls: str = Field(
        "", description="comma-separated Patroni REST URLs for database health (default: the local stack's)"
    )
    prometheus_url: str = Field(
        "", description="Prometheus URL to read the consumers' throttle state (default: the local stack's)"
    )
    metrics_host: str = Field("127.0.0.1", description="address of /metrics, /healthz, /readyz")
    metrics_port: int = Field(19200, ge=0, le=65535, description="port of /metrics (0 = any free port)")
    consumer_args: str = Field("", description="local: extra flags for each `floodwall consume` process")
    consumer_log_dir: Path | None = Field(
        None, description="local: where consumer logs go (default STATE_DIR/logs/consumers)"
    )
    consumer_stop_grace_s: float = Field(
        30.0, gt=0, description="local: seconds a consumer gets after SIGTERM before it is killed"
    )

    policy: PolicyName = Field(
        "floodwall", description="decision policy: floodwall or keda (KEDA-compatible)"
    )
    tick_s: float = Field(5.0, ge=1, le=300, description="seconds between two measure-decide-act rounds")
    min_replicas: int = Field(1, ge=0, le=1000, description="fewest consumers (0 allows scaling to zero)")
    max_replicas: int = Field(12, ge=1, le=1000, description="most consumers")
    write_budget_rows_per_s: float = Field(
        0.0, ge=0, description="rows/s the whole fleet may write (the consumers' budget; 0 = unlimited)"
    )
    rows_per_event: float = Field(
        5.0, gt=0, description="rows one event writes on average (measured: ~5 for a 3-item order)"
    )
    replica_throughput_events_per_s: float = Field(
        7900.0,
        gt=0,
        description="events/s one unthrottled consumer applies when none is measured yet "
        "(measured: ~7,900 order events/s)",
    )
    replica_max_rows_per_s: float = Field(
        0.0, ge=0, description="rows/s one consumer may write whatever its budget share, passed to the local "
        "consumers and counted in the sizing (a stand-in for a pod's CPU limit; 0 = no cap)",
    )  # fmt: skip
    target_drain_s: float = Field(
        60.0, gt=0, description="floodwall: seconds in which the backlog should be worked off"
    )
    activation_lag_threshold: int = Field(
        0,
        ge=0,
        description="floodwall: lag (events) above which a fleet at 0 starts; at or below, "
        "with no ingress, it may stop (min_replicas 0)",
    )
    scale_down_dead_band: float = Field(
        0.2, ge=0, lt=1, description="floodwall: scale down only to a count left with this headroom"
    )
    scale_down_window_s: float = Field(
        300.0,
        ge=0,
        description="floodwall: scale down only after this long since the last change, to the "
        "highest recommendation within it",
    )
    scale_down_window_max_s: float = Field(
        1200.0,
        ge=0,
        description="floodwall: when scale-ups recur less than this apart, the scale-down window "
        "stretches to 1.25x their gap, up to this (keeps replicas through the lull between bursts; "
        "at most scale_down_window_s: never stretched)",
    )
    scale_down_max_fraction: float = Field(
        1.0, gt=0, le=1, description="floodwall: largest fraction of the replicas removed in one step"
    )
    replica_start_s: float = Field(
        4.3,
        ge=0,
        description="floodwall: seconds from starting a replica until it applies events (process start "
        "~1 s + group rebalance ~3.3 s, measured); with two tick_s, how far a rising ingress is projected",
    )
    keda_lag_threshold: int = Field(10, gt=0, description="keda: lagThreshold (target lag per replica)")
    keda_activation_lag_threshold: int = Field(0, ge=0, description="keda: activationLagThreshold")
    keda_offset_reset_policy: Literal["latest", "earliest"] = Field(
        "latest", description="keda: offsetResetPolicy (how a missing committed offset counts)"
    )
    keda_allow_idle_consumers: bool = Field(False, description="keda: allowIdleConsumers")
    keda_limit_to_partitions_with_lag: bool = Field(False, description="keda: limitToPartitionsWithLag")
    keda_exclude_persistent_lag: bool = Field(False, description="keda: excludePersistentLag")
    keda_scale_to_zero_on_invalid_offset: bool = Field(False, description="keda: scaleToZeroOnInvalidOffset")
    keda_polling_interval_s: float = Field(30.0, gt=0, description="keda: pollingInterval (activation loop)")
    keda_cooldown_period_s: float = Field(300.0, ge=0, description="keda: cooldownPeriod before 0 replicas")
    keda_hpa_sync_period_s: float = Field(15.0, gt=0, description="keda: HPA controller sync period")
    keda_tolerance: float = Field(0.1, ge=0, lt=1, description="keda: HPA tolerance")
    keda_scale_up_stabilization_s: float = Field(0.0, ge=0, description="keda: HPA scaleUp stabilization")
    keda_scale_up_percent: int = Field(100, ge=0, description="keda: HPA scaleUp Percent policy (0 = none)")
    keda_scale_up_pods: int = Field(4, ge=0, description="keda: HPA scaleUp Pods policy (0 = none)")
    keda_scale_up_period_s: float = Field(15.0, gt=0, description="keda: HPA scaleUp policies' period")
    keda_scale_up_select: Select = Field("Max", description="keda: HPA scaleUp selectPolicy")
    keda_scale_down_stabilization_s: float = Field(
        300.0, ge=0, description="keda: HPA scaleDown stabilization window"
    )
    keda_scale_down_percent: int = Field(
        100, ge=0, description="keda: HPA scaleDown Percent policy (0 = none)"
    )
    keda_scale_down_pods: int = Field(0, ge=0, description="keda: HPA scaleDown Pods policy (0 = none)")
    keda_scale_down_period_s: float = Field(15.0, gt=0, description="keda: HPA scaleDown policies' period")
    keda_scale_down_select: Select = Field("Max", description="keda: HPA scaleDown selectPolicy")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})"
            )
        if self.keda_allow_idle_consumers and self.keda_limit_to_partitions_with_lag:
            raise ValueError(
                "keda_allow_idle_consumers and keda_limit_to_partitions_with_lag cannot both be set "
                "(KEDA rejects the combination)"
            )
        directions = (
            ("up", self.keda_scale_up_select, self.keda_scale_up_percent, self.keda_scale_up_pods),
            ("down", self.keda_scale_down_select, self.keda_scale_down_percent, self.keda_scale_down_pods),
        )
        for direction, select, percent, pods in directions:
            if select != "Disabled" and percent == 0 and pods == 0:
                raise ValueError(
                    f"keda_scale_{direction}_percent and keda_scale_{direction}_pods are both 0: give one "
                    f"policy or set keda_scale_{direction}_select=Disabled"
                )
        return self


DAEMON_FIELDS = frozenset(
    {"bootstrap_servers", "kafka_connection", "group_id", "orders_topic", "inventory_topic", "state_dir",
     "actuator", "k8s_namespace", "k8s_deployment", "patroni_urls", "prometheus_url", "metrics_host",
     "metrics_port", "consumer_args", "consumer_log_dir", "consumer_stop_grace_s"}
)  # fmt: skip


def floodwall_params(settings: AutoscalerSettings) -> FloodwallParams:
    """The Floodwall policy's parameters from the settings."""
    return FloodwallParams(
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        target_drain_s=settings.target_drain_s,
        replica_throughput_events_per_s=settings.replica_throughput_events_per_s,
        write_budget_rows_per_s=settings.write_budget_rows_per_s,
        rows_per_event=settings.rows_per_event,
        replica_max_events_per_s=settings.replica_max_rows_per_s / settings.rows_per_event,
        activation_lag_threshold=settings.activation_lag_threshold,
        scale_down_dead_band=settings.scale_down_dead_band,
        scale_down_window_s=settings.scale_down_window_s,
        scale_down_window_max_s=max(settings.scale_down_window_max_s, settings.scale_down_window_s),
        scale_down_max_fraction=settings.scale_down_max_fraction,
        # Replicas decided now work only after they start, and the count must still do at the tick
        # after that, the first that could correct it: two ticks plus the start.
        scale_up_lead_s=2 * settings.tick_s + settings.replica_start_s,
    )


def _rules(
    stabilization_s: float, percent: int, pods: int, period_s: float, select: Select
) -> hpa.ScalingRules:
    policies = [hpa.ScalingPolicy("Percent", percent, period_s)] if percent else []
    policies += [hpa.ScalingPolicy("Pods", pods, period_s)] if pods else []
    return hpa.ScalingRules(stabilization_s, tuple(policies), select)


def keda_params(settings: AutoscalerSettings) -> KedaParams:
    """The KEDA-compatible policy's parameters from the settings."""
    return KedaParams(
        lag_threshold=settings.keda_lag_threshold,
        activation_lag_threshold=settings.keda_activation_lag_threshold,
        offset_reset_policy=settings.keda_offset_reset_policy,
        allow_idle_consumers=settings.keda_allow_idle_consumers,
        limit_to_partitions_with_lag=settings.keda_limit_to_partitions_with_lag,
        exclude_persistent_lag=settings.keda_exclude_persistent_lag,
        scale_to_zero_on_invalid_offset=settings.keda_scale_to_zero_on_invalid_offset,
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        polling_interval_s=settings.keda_polling_interval_s,
        cooldown_period_s=settings.keda_cooldown_period_s,
        hpa_sync_period_s=settings.keda_hpa_sync_period_s,
        tolerance=settings.keda_tolerance,
        scale_up=_rules(
            settings.keda_scale_up_stabilization_s,
            settings.keda_scale_up_percent,
            settings.keda_scale_up_pods,
            settings.keda_scale_up_period_s,
            settings.keda_scale_up_select,
        ),
        scale_down=_rules(
            settings.keda_scale_down_stabilization_s,
            settings.keda_scale_down_percent,
            settings.keda_scale_down_pods,
            settings.keda_scale_down_period_s,
            settings.keda_scale_down_select,
        ),
    )


def build_policy(
    settings: AutoscalerSettings, name: PolicyName | None = None
) -> FloodwallPolicy | KedaPolicy:
    """The policy object ``name`` (default: ``settings.policy``) configured from ``settings``."""
    chosen = name or settings.policy
    if chosen == "keda":
        return KedaPolicy(keda_params(settings))
    return FloodwallPolicy(floodwall_params(settings))


class SimulationSettings(ServiceSettings):
    """The fleet model of ``floodwall autoscale simulate``; defaults are figures measured on this machine.

    ``write_budget_rows_per_s`` is shared with the policies' settings (the policy and the modelled consumers
    see one budget); here it defaults to 100,000 rows/s (an operator's choice, not a measurement: about a
    quarter of the 374k rows/s binary COPY a single PostgreSQL took here), because without a budget there is
    no database to protect.
    """

    section: ClassVar[str] = "simulate"

    partitions: int = Field(12, ge=1, le=1024, description="partitions of the modelled topic")
    fleet_replica_events_per_s: float = Field(
        7900.0, gt=0, description="events/s one modelled consumer applies (measured: ~7,900)"
    )
    protocol: GroupProtocol = Field(
        "classic",
        description="consumer group protocol whose measured start-up and rebalance costs the model uses: "
        "'classic' (cooperative-sticky, the consumers' default) or 'consumer' (KIP-848)",
    )
    startup_s: float | None = Field(
        None, ge=0, description="seconds from starting a consumer to its joining the group (default: the "
        "protocol's measured figure)",
    )  # fmt: skip
    join_pause_s: float | None = Field(
        None, ge=0, description="seconds a joining consumer stops the whole group (default: measured)"
    )
    leave_pause_s: float | None = Field(
        None, ge=0, description="seconds a consumer leaving stops the whole group (default: measured)"
    )
    commit_trail_s: float = Field(
        0.2, ge=0, lt=1, description="seconds of arrivals still in flight in the consumers' batches"
    )
    write_budget_rows_per_s: float = Field(
        100_000.0, ge=0, description="rows/s the fleet may write (0 = unlimited, no database limit)"
    )
    db_capacity_factor: float = Field(
        1.0, ge=1, description="the database absorbs at most this many times the budget"
    )
    initial_replicas: int = Field(1, ge=0, le=1000, description="replicas running when the trace starts")
    drained_lag_events: int = Field(
        1000, ge=0, description="drain_s ends once lag <= max(this, one second of ingress)"
    )

    def rebalance_figures(self) -> ProtocolFigures:
        """The protocol's measured figures, each replaced where it was set explicitly."""
        given = {"startup_s": self.startup_s, "join_pause_s": self.join_pause_s,
                 "leave_pause_s": self.leave_pause_s}  # fmt: skip
        return replace(MEASURED[self.protocol], **{k: v for k, v in given.items() if v is not None})

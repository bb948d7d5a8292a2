"""What the chart, the dashboards and the alerts expect of the autoscaler, in one place.

``tests/unit/test_autoscaler_io.py`` checks this against the real code: every field is a real
``AutoscalerSettings`` field, and ``METRICS`` is exactly what ``AutoscalerMetrics`` registers.
"""

from __future__ import annotations

# The settings the chart gives `floodwall autoscale` (env FLOODWALL_<FIELD>).
SETTINGS_FIELDS = frozenset(
    {
        "bootstrap_servers",
        "group_id",
        "orders_topic",
        "inventory_topic",
        "policy",
        "min_replicas",
        "max_replicas",
        "write_budget_rows_per_s",
        "target_drain_s",
        "tick_s",
        "actuator",
        "k8s_namespace",
        "k8s_deployment",
        "patroni_urls",
        "metrics_host",
        "metrics_port",
    }
)
METRICS_PORT_DEFAULT = 19200

# Metric name -> (type, label names).
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "floodwall_autoscaler_desired_replicas": ("gauge", ()),
    "floodwall_autoscaler_current_replicas": ("gauge", ()),
    "floodwall_autoscaler_partition_lag_events": ("gauge", ("topic", "partition")),
    "floodwall_autoscaler_total_lag_events": ("gauge", ()),
    "floodwall_autoscaler_ingress_events_per_second": ("gauge", ()),
    "floodwall_autoscaler_egress_events_per_second": ("gauge", ()),
    "floodwall_autoscaler_drain_seconds": ("gauge", ()),
    "floodwall_autoscaler_decisions_total": ("counter", ("reason",)),
    "floodwall_autoscaler_actuation_errors_total": ("counter", ()),
    "floodwall_autoscaler_measure_errors_total": ("counter", ()),
    "floodwall_autoscaler_db_primary_healthy": ("gauge", ()),
}

# CLI commands the chart calls that do not exist yet.
PENDING_COMMANDS: frozenset[str] = frozenset()

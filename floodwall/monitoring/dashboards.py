"""Floodwall's Grafana dashboards: the pipeline's and the database's panels, declared once, rendered to
Grafana JSON for the Helm chart (:mod:`floodwall.monitoring.export`) and listed query by query
(:func:`panel_queries`) so a live test can run every one against Prometheus. The model and its rendering
are :mod:`floodwall.monitoring.grafana`.
"""

from __future__ import annotations

from floodwall.monitoring.grafana import Dashboard, Panel, PanelQuery, Query, Row, queries, rate, render, sel

__all__ = ["DASHBOARDS", "Dashboard", "PanelQuery", "panel_queries", "render"]


def _q(expr: str, legend: str) -> Query:
    return Query(expr, legend)


LAG = Row(
    "Lag: how far behind, growing or shrinking, how long to drain",
    (
        Panel(
            "Lag by topic and partition (broker view)",
            "Events not yet applied, per partition, as the autoscaler measures them from the broker.",
            (
                _q(
                    "sum by (consumer_group, topic, partition) "
                    f"({sel('floodwall_autoscaler_partition_lag_events')})",
                    "{{consumer_group}} {{topic}}[{{partition}}]",
                ),
            ),
        ),
        Panel(
            "Lag by topic and partition (consumers' view)",
            "High watermark minus the next offset to apply, as each partition's owner last saw it.",
            (
                _q(
                    f"max by (consumer_group, topic, partition) ({sel('floodwall_consumer_lag_events')})",
                    "{{consumer_group}} {{topic}}[{{partition}}]",
                ),
            ),
        ),
        Panel(
            "Lag trend (events/s: above 0 growing, below 0 shrinking)",
            "Per-second change of the lag over 5 minutes.",
            (
                _q(
                    f"sum by (consumer_group) (deriv({sel('floodwall_autoscaler_total_lag_events')}[5m]))",
                    "{{consumer_group}} total (broker view)",
                ),
                _q(
                    f"sum by (consumer_group, topic) (deriv({sel('floodwall_consumer_lag_events')}[5m]))",
                    "{{consumer_group}} {{topic}} (consumers' view)",
                ),
            ),
            unit="short",
        ),
        Panel(
            "Estimated time to drain",
            "Lag divided by (applied rate - arrival rate); +Inf while the lag is not shrinking.",
            (
                _q(
                    f"max by (consumer_group) ({sel('floodwall_autoscaler_drain_seconds')})",
                    "{{consumer_group}}",
                ),
            ),
            unit="s",
        ),
    ),
)

THROUGHPUT = Row(
    "Throughput",
    (
        Panel(
            "Arriving vs applied (events/s)",
            "Arrival rate into the topics and drain rate (broker view) against events applied to PostgreSQL.",
            (
                _q(
                    f"sum by (consumer_group) ({sel('floodwall_autoscaler_ingress_events_per_second')})",
                    "{{consumer_group}} arriving",
                ),
                _q(
                    f"sum by (consumer_group) ({sel('floodwall_autoscaler_egress_events_per_second')})",
                    "{{consumer_group}} consumed (broker view)",
                ),
                _q(
                    f"sum by (consumer_group) ({rate('floodwall_consumer_events_applied_total')})",
                    "{{consumer_group}} applied",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Consumed by topic (events/s)",
            "Messages taken from Kafka by the fleet, per topic.",
            (
                _q(
                    f"sum by (consumer_group, topic) ({rate('floodwall_consumer_events_consumed_total')})",
                    "{{consumer_group}} {{topic}}",
                ),
            ),
            unit="ops",
        ),
    ),
)

SCALING = Row(
    "Scaling",
    (
        Panel(
            "Replicas: desired vs current",
            "What the autoscaler asks for and what runs.",
            (
                _q(
                    f"max by (consumer_group) ({sel('floodwall_autoscaler_desired_replicas')})",
                    "{{consumer_group}} desired",
                ),
                _q(
                    f"max by (consumer_group) ({sel('floodwall_autoscaler_current_replicas')})",
                    "{{consumer_group}} current",
                ),
            ),
        ),
        Panel(
            "Autoscaler decisions by reason (per minute)",
            "Why the autoscaler holds, scales up or scales down.",
            (
                _q(
                    f"sum by (consumer_group, reason) ({rate('floodwall_autoscaler_decisions_total')}) * 60",
                    "{{consumer_group}} {{reason}}",
                ),
            ),
        ),
        Panel(
            "Actuation errors (last 10 minutes)",
            "Failed scaling calls: RBAC, API server or local process errors.",
            (
                _q(
                    "sum by (consumer_group) "
                    f"(increase({sel('floodwall_autoscaler_actuation_errors_total')}[10m]))",
                    "{{consumer_group}}",
                ),
            ),
        ),
        Panel(
            "Partitions assigned per consumer",
            "A consumer with 0 partitions adds nothing: replicas beyond the partition count idle.",
            (_q(sel("floodwall_consumer_assigned_partitions"), "{{consumer_group}} {{instance}}"),),
        ),
    ),
)

WRITES = Row(
    "Database writes and backpressure",
    (
        Panel(
            "Batch commit latency",
            "Time to apply and commit one batch (one transaction), fleet-wide quantiles.",
            (
                _q(
                    "histogram_quantile(0.5, sum by (consumer_group, le) "
                    f"({rate('floodwall_consumer_commit_seconds_bucket')}))",
                    "{{consumer_group}} p50",
                ),
                _q(
                    "histogram_quantile(0.99, sum by (consumer_group, le) "
                    f"({rate('floodwall_consumer_commit_seconds_bucket')}))",
                    "{{consumer_group}} p99",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Write rate limit (rows/s) and throttle",
            "The fleet's write allowance (0 = unlimited) and each member's adaptive throttle (1 = full).",
            (
                _q(
                    f"sum by (consumer_group) ({sel('floodwall_consumer_write_rate_limit_rows_per_second')})",
                    "{{consumer_group}} rate limit, rows/s",
                ),
                _q(sel("floodwall_consumer_throttle_factor"), "{{consumer_group}} {{instance}} throttle"),
            ),
        ),
        Panel(
            "Paused partitions",
            "Partitions held back by the write budget or a database outage.",
            (
                _q(
                    f"sum by (consumer_group) ({sel('floodwall_consumer_paused_partitions')})",
                    "{{consumer_group}}",
                ),
            ),
        ),
        Panel(
            "Duplicates dropped and fenced batches (per minute)",
            "Replays dropped by event id; batches refused because another consumer owns the partition now.",
            (
                _q(
                    f"sum by (consumer_group) ({rate('floodwall_consumer_events_duplicate_total')}) * 60",
                    "{{consumer_group}} duplicates",
                ),
                _q(
                    f"sum by (consumer_group) ({rate('floodwall_consumer_batches_fenced_total')}) * 60",
                    "{{consumer_group}} fenced batches",
                ),
            ),
        ),
    ),
)

REJECTS = Row(
    "Rejected and dead-lettered events",
    (
        Panel(
            "Dead letters by error class (per minute)",
            "Undecodable or invalid events sent to the dead-letter topic.",
            (
                _q(
                    "sum by (consumer_group, error_class) "
                    f"({rate('floodwall_consumer_dead_letters_total')}) * 60",
                    "{{consumer_group}} {{error_class}}",
                ),
            ),
        ),
        Panel(
            "Rejected by reason (per minute)",
            "Valid events recorded as rejected: insufficient stock, unknown order, invalid transition...",
            (
                _q(
                    "sum by (consumer_group, reason) "
                    f"({rate('floodwall_consumer_events_rejected_total')}) * 60",
                    "{{consumer_group}} {{reason}}",
                ),
            ),
        ),
    ),
)

DATABASE = Row(
    "PostgreSQL cluster (Patroni, HAProxy)",
    (
        Panel(
            "Patroni role per node (1 = primary)",
            "Which node is the primary; a change is a failover or switchover.",
            (_q("max by (scope, instance) (patroni_primary)", "{{scope}} {{instance}}"),),
        ),
        Panel(
            "Patroni timeline",
            "Increases by one with each promotion.",
            (_q("max by (scope) (patroni_postgres_timeline)", "{{scope}}"),),
        ),
        Panel(
            "HAProxy: servers up per backend",
            "The write backend should have exactly one (the primary); the read backend the replicas.",
            (_q("sum by (proxy) (haproxy_backend_active_servers)", "{{proxy}}"),),
        ),
        Panel(
            "HAProxy: server state (1 = UP)",
            "Each node as HAProxy's Patroni health checks see it, per backend.",
            (_q('max by (proxy, server) (haproxy_server_status{state="UP"})', "{{proxy}} {{server}}"),),
        ),
        Panel(
            "Primary healthy (autoscaler's view)",
            "1 while the autoscaler sees a healthy primary; 0 makes it hold the replica count.",
            (
                _q(
                    f"max by (consumer_group) ({sel('floodwall_autoscaler_db_primary_healthy')})",
                    "{{consumer_group}}",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (
    Dashboard(
        "floodwall-pipeline",
        "Floodwall: pipeline",
        "Lag, throughput, scaling, database writes and rejected events of the Floodwall sink.",
        (LAG, THROUGHPUT, SCALING, WRITES, REJECTS),
    ),
    Dashboard(
        "floodwall-database",
        "Floodwall: database",
        "The Patroni/HAProxy PostgreSQL cluster Floodwall writes to.",
        (DATABASE,),
    ),
)


def panel_queries() -> list[PanelQuery]:
    """Every query of every panel, in dashboard order, with a runnable form (``VARIABLE_DEFAULTS``)."""
    return queries(DASHBOARDS)

"""Grafana dashboards as code, the machinery: dashboards, rows, panels and their PromQL queries as data,
rendered to Grafana's dashboard JSON (:func:`render`) and listed query by query (:func:`queries`).

Floodwall's own dashboards are in :mod:`floodwall.monitoring.dashboards`. Queries filter on
``consumer_group=~"$consumer_group"`` (:func:`sel`); the label is added by the chart's
ServiceMonitor/PodMonitor. Where it is missing (the local stack), the variable's "All" value ``.*``
still matches, so the same dashboards work in both places.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Values Grafana would put in for the template variables, for running queries outside Grafana.
VARIABLE_DEFAULTS = {"$consumer_group": ".*", "$__rate_interval": "1m"}

G = 'consumer_group=~"$consumer_group"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    group_variable: bool = True


@dataclass(frozen=True)
class PanelQuery:
    """A query as a live test needs it: where it comes from, and the expression with variables filled."""

    dashboard: str
    panel: str
    legend: str
    expr: str  # as in the dashboard, with Grafana variables
    resolved: str  # variables replaced by VARIABLE_DEFAULTS: runnable against Prometheus as it is


def sel(metric: str) -> str:
    """``metric`` restricted to the selected consumer groups."""
    return f"{metric}{{{G}}}"


def rate(metric: str) -> str:
    return f"rate({sel(metric)}[{RATE}])"


def queries(boards: Iterable[Dashboard]) -> list[PanelQuery]:
    """Every query of every panel of ``boards``, in order, with its runnable form (:data:`VARIABLE_DEFAULTS`
    filled in)."""
    found = []
    for board in boards:
        for row in board.rows:
            for panel in row.panels:
                for q in panel.queries:
                    resolved = q.expr
                    for var, value in VARIABLE_DEFAULTS.items():
                        resolved = resolved.replace(var, value)
                    found.append(PanelQuery(board.uid, panel.title, q.legend, q.expr, resolved))
    return found


def render(board: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard JSON (schema 39) for ``board``, with a Prometheus data source variable."""
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for row in board.rows:
        panels.append(
            {"type": "row", "id": next_id, "title": row.title, "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )  # fmt: skip
        next_id += 1
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, next_id, x, y, datasource))
            next_id += 1
            x += panel.width
        y += 8
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "options": []},
    ]  # fmt: skip
    if board.group_variable:
        variables.append(
            {"name": "consumer_group", "label": "Consumer group", "type": "query", "datasource": datasource,
             "query": {"query": "label_values(floodwall_consumer_assigned_partitions, consumer_group)",
                       "refId": "consumer_group"},
             "definition": "label_values(floodwall_consumer_assigned_partitions, consumer_group)",
             "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1,
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "options": []}
        )  # fmt: skip
    return {
        "uid": board.uid,
        "title": board.title,
        "description": board.description,
        "tags": ["floodwall"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "version": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": variables},
        "panels": panels,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int, datasource: dict[str, str]) -> dict[str, Any]:
    targets = [
        {"refId": chr(ord("A") + i), "datasource": datasource, "expr": q.expr, "legendFormat": q.legend,
         "range": True, "instant": False}
        for i, q in enumerate(panel.queries)
    ]  # fmt: skip
    body: dict[str, Any] = {
        "type": panel.kind,
        "id": panel_id,
        "title": panel.title,
        "description": panel.description,
        "datasource": datasource,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }  # fmt: skip
    return body

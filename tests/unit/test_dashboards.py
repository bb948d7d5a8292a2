"""Dashboards and monitoring files: the chart's copies are what the code generates, every metric a panel
or an alert names is exported by Floodwall (or promised by the autoscaler's contract), and every panel
query returns data over series shaped like the real exporters' (evaluated by promtool's PromQL engine).

The live check against a running stack's Prometheus is separate (see ``panel_queries``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from floodwall.consumers.metrics import ConsumerMetrics
from floodwall.monitoring import alert_rules_text
from floodwall.monitoring.dashboards import DASHBOARDS, Dashboard, panel_queries, render
from floodwall.monitoring.export import chart_files
from floodwall.producers.metrics import ProducerMetrics
from tests.unit import autoscaler_contract

CHART = Path(__file__).resolve().parents[2] / "helm" / "floodwall"
TARGET = {"consumer_group": "sink", "job": "floodwall"}


def test_chart_files_are_the_generated_ones() -> None:
    for name, text in chart_files().items():
        path = CHART / name
        assert path.is_file(), f"{path} is missing: run python -m floodwall.monitoring.export"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} differs from what the code generates: run python -m floodwall.monitoring.export"
        )
    on_disk = {str(p.relative_to(CHART)) for p in (CHART / "dashboards").glob("*.json")}
    assert on_disk == {n for n in chart_files() if n.startswith("dashboards/")}


def consumer_samples() -> list[tuple[str, dict[str, str], float]]:
    """What a real consumer exports after some work (its own metrics code, not a copy of the names)."""
    registry = CollectorRegistry()
    m = ConsumerMetrics.create(registry)
    m.consumed.labels("orders").inc(40)
    m.applied.inc(35)
    m.rejected.labels("insufficient_stock").inc(2)
    m.duplicates.inc(1)
    m.dead_letters.labels("MalformedMessage").inc(3)
    m.fenced.inc(0)
    m.batch_events.observe(40)
    m.commit_seconds.observe(0.05)
    m.lag.labels("orders", "0").set(120)
    m.assigned.set(6)
    m.paused.set(1)
    m.rate_limit.set(500)
    m.throttle.set(1)
    m.offset_out_of_range.labels("orders", "3").set(1)
    return exported(registry)


def producer_metric_names() -> set[str]:
    registry = CollectorRegistry()
    ProducerMetrics.on(registry)
    families = text_string_to_metric_families(generate_latest(registry).decode())
    # The parser names a counter family without its "_total" suffix.
    return {f.name + "_total" if f.type == "counter" else f.name for f in families}


def exported(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    text = generate_latest(registry).decode()
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    ]


def autoscaler_samples() -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for name, (_kind, labels) in autoscaler_contract.METRICS.items():
        values = {"topic": "orders", "partition": "0", "reason": "scale_up"}
        samples.append((name, {label: values[label] for label in labels}, 3.0))
    return samples


# Names and labels as Patroni 3.0.2 (its api.py) and HAProxy 2.6's exporter (scraped here) write them.
DATABASE_SAMPLES = [
    ("patroni_primary", {"scope": "floodwall", "instance": "127.0.0.1:18441"}, 1.0),
    ("patroni_postgres_timeline", {"scope": "floodwall", "instance": "127.0.0.1:18441"}, 2.0),
    ("haproxy_backend_active_servers", {"proxy": "pg_write", "instance": "127.0.0.1:18404"}, 1.0),
    ("haproxy_server_status", {"proxy": "pg_write", "server": "n1", "state": "UP"}, 1.0),
]


def promtool_series(samples: list[tuple[str, dict[str, str], float]]) -> list[dict[str, str]]:
    series = []
    for name, labels, value in samples:
        full = {**TARGET, **labels} if name.startswith("floodwall_") else labels
        selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(full.items())) + "}"
        counter = name.endswith(("_total", "_bucket", "_count", "_sum"))
        step = max(value, 1.0)
        # Counters grow (so rate() is positive); gauges hold their value. 30 minutes of 15 s samples.
        values = f"0+{step:g}x120" if counter else f"{value:g}x120"
        series.append({"series": selector, "values": values})
    return series


def run_promtool(tmp_path: Path, exprs: list[str], samples: list[tuple[str, dict[str, str], float]]) -> str:
    """Require each expression to return at least one sample at 30 m; returns promtool's output on failure."""
    tests = [
        {
            "interval": "15s",
            "input_series": promtool_series(samples),
            # count() of an empty result is empty, so an expression with no data fails this.
            "promql_expr_test": [
                {"expr": f"clamp_max(count({expr}), 1)", "eval_time": "30m",
                 "exp_samples": [{"labels": "{}", "value": 1}]}
                for expr in exprs
            ],
        }
    ]  # fmt: skip
    path = tmp_path / "queries_test.yaml"
    path.write_text(json.dumps({"rule_files": [], "tests": tests}))
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/setup.sh installs it)"
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def all_samples() -> list[tuple[str, dict[str, str], float]]:
    return consumer_samples() + autoscaler_samples() + DATABASE_SAMPLES


def test_every_panel_query_returns_data(tmp_path: Path) -> None:
    queries = panel_queries()
    assert len(queries) >= 20
    failure = run_promtool(tmp_path, [q.resolved for q in queries], all_samples())
    assert failure == "", failure


def test_a_query_on_a_misspelt_metric_is_caught(tmp_path: Path) -> None:
    misspelt = 'sum(rate(floodwall_consumer_event_applied_total{consumer_group=~".*"}[1m]))'
    failure = run_promtool(tmp_path, [misspelt], all_samples())
    assert "floodwall_consumer_event_applied_total" in failure


def referenced_metrics(text: str) -> set[str]:
    names = set(re.findall(r"\b(floodwall_[a-z_]+)", text))
    # Histogram series are named after their family.
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def test_every_floodwall_metric_named_in_dashboards_and_alerts_exists() -> None:
    known = {re.sub(r"_(bucket|count|sum)$", "", name) for name, _, _ in consumer_samples()}
    known |= {
        re.sub(r"_total$", "", n) + "_total" if n.endswith("_total") else n for n in producer_metric_names()
    }
    known |= set(autoscaler_contract.METRICS)
    used = referenced_metrics(" ".join(q.expr for q in panel_queries())) | referenced_metrics(
        alert_rules_text()
    )
    assert used - known == set(), f"unknown metrics: {sorted(used - known)}"


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda b: b.uid)
def test_dashboard_json_is_well_formed(board: Dashboard) -> None:
    doc = render(board)
    panels = doc["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    titles = [p["title"] for p in panels if p["type"] != "row"]
    assert len(titles) == len(set(titles)), "panel titles must be unique (the live test reports by title)"
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
        for target in p.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            for metric in referenced_metrics(target["expr"]):
                # Every Floodwall series is filtered by the consumer-group variable.
                assert f'{metric}{{consumer_group=~"$consumer_group"}}' in target["expr"] or (
                    f'{metric}_bucket{{consumer_group=~"$consumer_group"}}' in target["expr"]
                ), target["expr"]
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert "datasource" in variables

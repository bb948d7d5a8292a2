"""Floodwall's alert rules under ``promtool``: valid, and each alert fires in its scenario and stays silent
in the look-alike ones (a small lag, a brief blip, a deliberate scale to zero, ...).

Scenarios are written here as data and turned into promtool's unit-test format; the expected annotations
are the rule's own, with ``{{ $labels.x }}`` filled in, so a test pins labels and firing, not wording.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from floodwall.monitoring import alert_rules_text

AUTOSCALER = 'consumer_group="sink",instance="autoscaler:19200",job="floodwall"'
AUTOSCALER_LABELS = {"consumer_group": "sink", "instance": "autoscaler:19200", "job": "floodwall"}
CONSUMER = 'consumer_group="sink",instance="consumer-0:19300",job="floodwall"'
CONSUMER2 = 'consumer_group="sink",instance="consumer-1:19300",job="floodwall"'


@dataclass(frozen=True)
class Scenario:
    """Input series (1-minute samples in promtool's notation) and what ``alert`` does at ``at``."""

    name: str
    alert: str
    series: dict[str, str]
    at: str
    fires: list[dict[str, str]] = field(default_factory=list)  # expected alert label sets; [] = silent


def stopped(target: str, topic: str, partition: int) -> str:
    """The consumer's out-of-range gauge for one partition."""
    return f'floodwall_consumer_offset_out_of_range{{{target},topic="{topic}",partition="{partition}"}}'


def flicker(a: str, b: str, n: int) -> str:
    """A gauge alternating between two values, one sample each (e.g. partitions paused and resumed)."""
    return " ".join([a, b] * n)


INF = " ".join(["+Inf"] * 31)  # promtool's "axn" notation does not take Inf

SCENARIOS = [
    # -- lag growing ------------------------------------------------------------------------------------
    Scenario("autoscaler lag grows", "FloodwallLagGrowing",
             {f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "2000+100x40"}, "30m",
             [AUTOSCALER_LABELS]),
    Scenario("no autoscaler: consumers' lag grows", "FloodwallLagGrowing",
             {f'floodwall_consumer_lag_events{{{CONSUMER},topic="orders",partition="0"}}': "500+50x40",
              f'floodwall_consumer_lag_events{{{CONSUMER},topic="orders",partition="1"}}': "600x40"}, "30m",
             [{"consumer_group": "sink"}]),
    Scenario("lag grows but stays small", "FloodwallLagGrowing",
             {f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "0+10x40"}, "30m"),
    Scenario("large lag shrinking", "FloodwallLagGrowing",
             {f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "50000-100x40"}, "30m"),
    Scenario("growing for less than 10 minutes", "FloodwallLagGrowing",
             {f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "2000x20 2100+100x10"}, "25m"),
    Scenario("consumers see growth the autoscaler does not: the autoscaler wins", "FloodwallLagGrowing",
             {f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "5000x40",
              f'floodwall_consumer_lag_events{{{CONSUMER},topic="orders",partition="0"}}': "2000+100x40"},
             "30m"),
    # -- time to drain ----------------------------------------------------------------------------------
    Scenario("not draining", "FloodwallDrainTooSlow",
             {f"floodwall_autoscaler_drain_seconds{{{AUTOSCALER}}}": INF,
              f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "5000x30"}, "20m",
             [AUTOSCALER_LABELS]),
    Scenario("draining slowly", "FloodwallDrainTooSlow",
             {f"floodwall_autoscaler_drain_seconds{{{AUTOSCALER}}}": "1800x30",
              f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "90000x30"}, "20m",
             [AUTOSCALER_LABELS]),
    Scenario("draining within target", "FloodwallDrainTooSlow",
             {f"floodwall_autoscaler_drain_seconds{{{AUTOSCALER}}}": "600x30",
              f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "90000x30"}, "20m"),
    Scenario("nothing to drain", "FloodwallDrainTooSlow",
             {f"floodwall_autoscaler_drain_seconds{{{AUTOSCALER}}}": INF,
              f"floodwall_autoscaler_total_lag_events{{{AUTOSCALER}}}": "0x30"}, "20m"),
    # -- dead letters -----------------------------------------------------------------------------------
    Scenario("dead letters counted", "FloodwallDeadLetters",
             {f'floodwall_consumer_dead_letters_total{{{CONSUMER},error_class="MalformedMessage"}}':
              "0x10 3x10"}, "12m",
             [{"consumer_group": "sink", "error_class": "MalformedMessage"}]),
    Scenario("first dead letter of its class (series born at 1)", "FloodwallDeadLetters",
             {f'floodwall_consumer_dead_letters_total{{{CONSUMER},error_class="EventValidationError"}}':
              "_x10 1x10"}, "12m",
             [{"consumer_group": "sink", "error_class": "EventValidationError"}]),
    Scenario("old dead letters, none recently", "FloodwallDeadLetters",
             {f'floodwall_consumer_dead_letters_total{{{CONSUMER},error_class="MalformedMessage"}}':
              "0x5 1x30"}, "25m"),
    # -- consumers absent -------------------------------------------------------------------------------
    Scenario("no consumer scraped", "FloodwallConsumersAbsent",
             {'up{job="other"}': "1x10"}, "6m", [{}]),
    Scenario("consumers stopped", "FloodwallConsumersAbsent",
             {f"floodwall_consumer_assigned_partitions{{{CONSUMER}}}": "6x3 stale"}, "12m", [{}]),
    Scenario("consumers present", "FloodwallConsumersAbsent",
             {f"floodwall_consumer_assigned_partitions{{{CONSUMER}}}": "6x10"}, "8m"),
    Scenario("autoscaler scaled to zero on purpose", "FloodwallConsumersAbsent",
             {f"floodwall_autoscaler_desired_replicas{{{AUTOSCALER}}}": "0x10"}, "8m"),
    # -- write budget -----------------------------------------------------------------------------------
    Scenario("budget holds partitions back", "FloodwallWriteBudgetSaturated",
             {f"floodwall_consumer_paused_partitions{{{CONSUMER}}}": flicker("0", "3", 15),
              f"floodwall_consumer_write_rate_limit_rows_per_second{{{CONSUMER}}}": "500x30"}, "20m",
             [{"consumer_group": "sink"}]),
    Scenario("paused without a budget (database outage)", "FloodwallWriteBudgetSaturated",
             {f"floodwall_consumer_paused_partitions{{{CONSUMER}}}": "3x30",
              f"floodwall_consumer_write_rate_limit_rows_per_second{{{CONSUMER}}}": "0x30"}, "20m"),
    Scenario("budget set, never reached", "FloodwallWriteBudgetSaturated",
             {f"floodwall_consumer_paused_partitions{{{CONSUMER}}}": "0x30",
              f"floodwall_consumer_write_rate_limit_rows_per_second{{{CONSUMER}}}": "500x30"}, "20m"),
    # -- failover ---------------------------------------------------------------------------------------
    Scenario("replica promoted", "FloodwallPrimaryChanged",
             {'patroni_primary{instance="n1:8008",job="patroni",scope="fw"}': "1x10 0x20",
              'patroni_primary{instance="n2:8008",job="patroni",scope="fw"}': "0x10 1x20"}, "13m",
             [{"instance": "n2:8008", "job": "patroni", "scope": "fw"}]),
    Scenario("same primary throughout", "FloodwallPrimaryChanged",
             {'patroni_primary{instance="n1:8008",job="patroni",scope="fw"}': "1x30",
              'patroni_primary{instance="n2:8008",job="patroni",scope="fw"}': "0x30"}, "20m"),
    Scenario("a freshly started cluster", "FloodwallPrimaryChanged",
             {'patroni_primary{instance="n1:8008",job="patroni",scope="fw"}': "_x10 1x20"}, "13m"),
    Scenario("failover long ago", "FloodwallPrimaryChanged",
             {'patroni_primary{instance="n2:8008",job="patroni",scope="fw"}': "0x10 1x20"}, "20m"),
    # -- database primary health ------------------------------------------------------------------------
    Scenario("primary unhealthy", "FloodwallDatabasePrimaryUnhealthy",
             {f"floodwall_autoscaler_db_primary_healthy{{{AUTOSCALER}}}": "1x2 0x10"}, "6m",
             [AUTOSCALER_LABELS]),
    Scenario("a one-minute blip", "FloodwallDatabasePrimaryUnhealthy",
             {f"floodwall_autoscaler_db_primary_healthy{{{AUTOSCALER}}}": "1x5 0 1x5"}, "7m"),
    Scenario("primary healthy", "FloodwallDatabasePrimaryUnhealthy",
             {f"floodwall_autoscaler_db_primary_healthy{{{AUTOSCALER}}}": "1x10"}, "8m"),
    # -- autoscaler cannot act --------------------------------------------------------------------------
    Scenario("scaling calls fail", "FloodwallAutoscalerCannotAct",
             {f"floodwall_autoscaler_actuation_errors_total{{{AUTOSCALER}}}": "0+1x30",
              f"floodwall_autoscaler_desired_replicas{{{AUTOSCALER}}}": "3x30",
              f"floodwall_autoscaler_current_replicas{{{AUTOSCALER}}}": "3x30"}, "20m", [AUTOSCALER_LABELS]),
    Scenario("replicas never arrive", "FloodwallAutoscalerCannotAct",
             {f"floodwall_autoscaler_actuation_errors_total{{{AUTOSCALER}}}": "0x30",
              f"floodwall_autoscaler_desired_replicas{{{AUTOSCALER}}}": "5x30",
              f"floodwall_autoscaler_current_replicas{{{AUTOSCALER}}}": "3x30"}, "20m", [AUTOSCALER_LABELS]),
    Scenario("a normal scale-up", "FloodwallAutoscalerCannotAct",
             {f"floodwall_autoscaler_actuation_errors_total{{{AUTOSCALER}}}": "0x30",
              f"floodwall_autoscaler_desired_replicas{{{AUTOSCALER}}}": "3x5 5x30",
              f"floodwall_autoscaler_current_replicas{{{AUTOSCALER}}}": "3x8 5x30"}, "20m"),
    # -- stored offset outside the log ------------------------------------------------------------------
    Scenario("a partition stopped on an out-of-range offset", "FloodwallOffsetOutOfRange",
             {stopped(CONSUMER, "orders", 3): "1x10",
              stopped(CONSUMER2, "inventory", 0): "1x10"},
             "5m", [{"consumer_group": "sink", "topic": "orders", "partition": "3"},
                    {"consumer_group": "sink", "topic": "inventory", "partition": "0"}]),
    Scenario("the stopped partition moves to another consumer in a rebalance", "FloodwallOffsetOutOfRange",
             {stopped(CONSUMER, "orders", 3): "1x1 stale",
              stopped(CONSUMER2, "orders", 3): "_x2 1x10"},
             "3m", [{"consumer_group": "sink", "topic": "orders", "partition": "3"}]),
    Scenario("a one-minute gap the consumer's re-check cleared", "FloodwallOffsetOutOfRange",
             {stopped(CONSUMER, "orders", 3): "_x3 1 stale"},
             "5m"),
    Scenario("a reset resumed the partition", "FloodwallOffsetOutOfRange",
             {stopped(CONSUMER, "orders", 3): "1x10 stale",
              f"floodwall_consumer_assigned_partitions{{{CONSUMER}}}": "6x20"}, "15m"),
    Scenario("a consumer reporting 0", "FloodwallOffsetOutOfRange",
             {stopped(CONSUMER, "orders", 3): "0x10"}, "8m"),
]  # fmt: skip


def rules() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(alert_rules_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def fill(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def expected(scenario: Scenario) -> list[dict[str, Any]]:
    rule = rules()[scenario.alert]
    alerts = []
    for labels in scenario.fires:
        full = {**labels, **rule.get("labels", {})}
        notes = {k: fill(v, full) for k, v in rule.get("annotations", {}).items()}
        alerts.append({"exp_labels": full, "exp_annotations": notes})
    return alerts


def promtool_test(
    tmp_path: Path, scenarios: list[Scenario], rules_file: Path
) -> subprocess.CompletedProcess[str]:
    tests = [
        {
            "name": s.name,
            "interval": "1m",
            "input_series": [{"series": k, "values": v} for k, v in s.series.items()],
            "alert_rule_test": [{"eval_time": s.at, "alertname": s.alert, "exp_alerts": expected(s)}],
        }
        for s in scenarios
    ]
    test_file = tmp_path / "alerts_test.yaml"
    # JSON is YAML: promtool reads it as it is.
    test_file.write_text(
        json.dumps({"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": tests})
    )
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/setup.sh installs it)"
    return subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(alert_rules_text())
    return path


def test_rules_pass_promtool_check(rules_file: Path) -> None:
    result = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_scenario() -> None:
    firing = {s.alert for s in SCENARIOS if s.fires}
    silent = {s.alert for s in SCENARIOS if not s.fires}
    assert set(rules()) == firing == silent


@pytest.mark.parametrize("alert", sorted(rules()))
def test_alert_scenarios(alert: str, tmp_path: Path, rules_file: Path) -> None:
    result = promtool_test(tmp_path, [s for s in SCENARIOS if s.alert == alert], rules_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails(tmp_path: Path, rules_file: Path) -> None:
    """The harness can fail: a firing scenario declared silent is reported by promtool."""
    firing = next(s for s in SCENARIOS if s.fires)
    wrong = Scenario(firing.name, firing.alert, firing.series, firing.at)
    result = promtool_test(tmp_path, [wrong], rules_file)
    assert result.returncode != 0 and firing.alert in result.stdout + result.stderr

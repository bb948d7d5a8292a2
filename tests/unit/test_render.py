"""Generated daemon configs: loopback only, the right health checks, the tuned Patroni timings."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from floodwall.errors import ConfigError
from floodwall.monitoring import alert_rules_text
from floodwall.settings import load_settings
from floodwall.stack import render
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import Layout
from floodwall.stack.state import Secrets

SECRETS = Secrets("su-pw", "repl-pw", "rewind-pw", "app-pw", "owner-pw", "api-pw")


def layout(tmp_path: Path, **overrides: object) -> Layout:
    return Layout(load_settings(StackSettings, {"state_dir": tmp_path, **overrides}))


def test_haproxy_routes_writes_to_primary_and_reads_to_replicas(tmp_path: Path) -> None:
    cfg = render.render_haproxy(layout(tmp_path))
    write, read = cfg.split("listen pg_write")[1].split("listen pg_read")
    assert "bind 127.0.0.1:15430" in write and "uri /primary" in write and "/replica" not in write
    assert "bind 127.0.0.1:15431" in read and "uri /replica" in read and "balance roundrobin" in read
    for section in (write, read):
        assert "meth OPTIONS" in section  # GET floods Patroni 3.0.2's log
        assert "on-marked-down shutdown-sessions" in section
        for node, (pg, rest) in {"n1": (15441, 18441), "n2": (15442, 18442), "n3": (15443, 18443)}.items():
            assert f"server {node} 127.0.0.1:{pg} maxconn 300 check port {rest}" in section
    assert "prometheus-exporter" in cfg and "bind 127.0.0.1:18404" in cfg


def test_nothing_binds_beyond_loopback(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    texts = [render.render_haproxy(lay), render.render_prometheus(lay)]
    texts += [render.render_patroni(lay, node, SECRETS) for node in lay.nodes]
    texts += [" ".join(render.etcd_argv(lay))]
    texts += [render.render_kafka_properties(lay, node) for node in layout(tmp_path, brokers=3).brokers]
    texts += [" ".join(render.prometheus_argv(lay))]
    for text in texts:
        assert "0.0.0.0" not in text and "localhost" not in text
        assert "127.0.0.1" in text


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_one_kafka_node_is_broker_and_controller_with_single_copies(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    (node,) = lay.brokers
    props = _properties(render.render_kafka_properties(lay, node))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "b1" / "data")  # in the state dir: durable
    assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert lay.bootstrap_servers == "127.0.0.1:19092"


def test_three_kafka_nodes_share_a_static_quorum_and_keep_three_copies(tmp_path: Path) -> None:
    lay = layout(tmp_path, brokers=3)
    props = [_properties(render.render_kafka_properties(lay, node)) for node in lay.brokers]
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert [p["controller.quorum.voters"] for p in props] == [voters] * 3
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert [p["advertised.listeners"] for p in props] == [
        f"PLAINTEXT://127.0.0.1:{port}" for port in (19092, 19094, 19096)
    ]
    for p in props:
        assert (p["default.replication.factor"], p["min.insync.replicas"]) == ("3", "2")
        assert (p["transaction.state.log.replication.factor"], p["transaction.state.log.min.isr"]) == (
            "3",
            "2",
        )
    assert lay.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def test_brokers_port_range_must_not_collide(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both use port 19096"):
        load_settings(StackSettings, {"state_dir": tmp_path, "brokers": 3, "prometheus_port": 19096})


def test_kafka_argv_bounds_the_heap_and_runs_the_broker_class(tmp_path: Path) -> None:
    lay = layout(tmp_path, broker_heap_mb=384)
    argv = render.kafka_argv(lay, lay.brokers[0])
    assert "-Xmx384m" in argv and argv[-2:] == ["kafka.Kafka", str(lay.brokers[0].config_file)]
    fmt = render.kafka_format_argv(lay, lay.brokers[0], "abc")
    assert fmt[fmt.index("kafka.tools.StorageTool") :] == [
        "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", "abc", "-c",
        str(lay.brokers[0].config_file),
    ]  # fmt: skip


def test_patroni_config_is_synchronous_with_tuned_failover(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    doc = json.loads(render.render_patroni(lay, lay.nodes[1], SECRETS))
    dcs = doc["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (10, 2, 4)
    assert dcs["synchronous_mode"] is True
    assert doc["name"] == "n2" and doc["postgresql"]["listen"] == "127.0.0.1:15442"
    assert doc["restapi"]["listen"] == "127.0.0.1:18442"
    assert doc["etcd3"]["hosts"] == "127.0.0.1:12379"
    assert doc["postgresql"]["authentication"]["replication"]["password"] == "repl-pw"
    hba = doc["postgresql"]["pg_hba"]
    assert "host replication replicator 127.0.0.1/32 scram-sha-256" in hba


def test_synchronous_mode_can_be_turned_off(tmp_path: Path) -> None:
    lay = layout(tmp_path, synchronous_mode=False, pg_nodes=2)
    doc = render.patroni_config(lay, lay.nodes[0], SECRETS)
    assert doc["bootstrap"]["dcs"]["synchronous_mode"] is False
    assert len(lay.nodes) == 2


def test_prometheus_scrapes_every_part_and_file_discovery(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    jobs = {job["job_name"]: job for job in render.prometheus_config(lay)["scrape_configs"]}
    assert set(jobs) == {"prometheus", "haproxy", "etcd", "patroni", "floodwall"}
    assert jobs["patroni"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{p}" for p in (18441, 18442, 18443)
    ]
    assert jobs["floodwall"]["file_sd_configs"][0]["files"] == [str(lay.prometheus_targets_dir / "*.json")]


def test_prometheus_loads_floodwall_alert_rules(tmp_path: Path) -> None:
    """The local Prometheus evaluates the packaged rules (the chart's PrometheusRule ships the same)."""
    lay = layout(tmp_path)
    assert render.prometheus_config(lay)["rule_files"] == [str(lay.prometheus_rules)]
    lay.prometheus_config.parent.mkdir(parents=True)
    lay.prometheus_config.write_text(render.render_prometheus(lay))
    lay.prometheus_rules.write_text(alert_rules_text())
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/setup.sh installs it)"
    result = subprocess.run(
        [promtool, "check", "config", str(lay.prometheus_config)], capture_output=True, text=True, timeout=60
    )
    rules = sum(len(g["rules"]) for g in yaml.safe_load(alert_rules_text())["groups"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_write_dsn_carries_no_password(tmp_path: Path) -> None:
    dsn = layout(tmp_path).write_dsn()
    assert dsn.startswith("postgresql://floodwall@127.0.0.1:15430/floodwall?")
    assert f"passfile={tmp_path / 'pgpass'}" in dsn
    assert "pw" not in dsn.split("?")[0]

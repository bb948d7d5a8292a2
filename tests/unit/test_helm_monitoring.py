"""The chart's monitoring and conventions: monitors that select the metrics Services, the PrometheusRule
and dashboards from the packaged sources, recommended labels, the helm test Pod, NOTES."""

from __future__ import annotations

import json

import helm_python as helm
import pytest
import yaml

from floodwall.monitoring import alert_rules_text
from floodwall.monitoring.export import chart_files
from tests.unit.helm_render import (
    CONSUMERS,
    NAMESPACE,
    RELEASE,
    find,
    merged,
    render,
    values_file,
)

# ---- monitoring, dashboards, labels, test hook ------------------------------------------------------------


def test_monitors_select_the_metrics_services_and_carry_the_release_label(chart: helm.Chart) -> None:
    docs = render(chart, values_file("monitoring"))
    monitors = find(docs, "ServiceMonitor")
    assert len(monitors) == 2 and find(docs, "PodMonitor") == []
    services = find(docs, "Service")
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert {
            "targetLabel": "consumer_group",
            "replacement": "floodwall-sink",
            "action": "replace",
        } in endpoint["relabelings"]
    pod_monitors = find(render(chart, values_file("no-autoscaler")), "PodMonitor")
    assert [m["metadata"]["name"] for m in pod_monitors] == [f"{CONSUMERS}"]
    assert "release" not in pod_monitors[0]["metadata"]["labels"]


def test_prometheus_rule_is_the_packaged_alerts_file(chart: helm.Chart) -> None:
    (rule,) = find(render(chart, values_file("monitoring")), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == yaml.safe_load(alert_rules_text())["groups"]
    assert find(render(chart, values_file("defaults")), "PrometheusRule") == []


def test_dashboards_are_configmaps_for_the_grafana_sidecar(chart: helm.Chart) -> None:
    maps = [
        m
        for m in find(render(chart, values_file("monitoring")), "ConfigMap")
        if "grafana_dashboard" in m["metadata"]["labels"]
    ]
    generated = {
        n.removeprefix("dashboards/"): json.loads(t)
        for n, t in chart_files().items()
        if n.startswith("dashboards/")
    }
    assert len(maps) == len(generated) >= 2
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Floodwall"}
        ((key, text),) = cm["data"].items()
        assert json.loads(text) == generated[key]
    off = render(chart, merged(values_file("defaults"), {"monitoring": {"dashboards": {"enabled": False}}}))
    assert not [m for m in find(off, "ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]]


@pytest.mark.parametrize("name", ["defaults", "monitoring", "no-autoscaler"])
def test_every_object_has_the_recommended_labels(chart: helm.Chart, name: str) -> None:
    for doc in render(chart, values_file(name)):
        labels = doc["metadata"]["labels"]
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert labels["app.kubernetes.io/name"] == "floodwall", where
        assert labels["app.kubernetes.io/instance"] == RELEASE, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/version"] and labels["app.kubernetes.io/component"], where
        assert labels["helm.sh/chart"].startswith("floodwall-"), where
        assert doc["metadata"]["namespace"] == NAMESPACE, where


@pytest.mark.parametrize("name", ["defaults", "no-autoscaler"])
def test_helm_test_pod_checks_services_that_exist(chart: helm.Chart, name: str) -> None:
    docs = render(chart, values_file(name))
    (pod,) = find(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    urls = pod["spec"]["containers"][0]["args"][1:]
    ports = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in find(docs, "Service")}
    assert urls and all(u.endswith(("/readyz", "/metrics")) for u in urls)
    for url in urls:
        host_port = url.removeprefix("http://").split("/")[0]
        host, port = host_port.split(":")
        assert ports[host] == int(port), url
    assert len(urls) == 2 * len(ports)


def test_notes_render_the_next_steps(chart: helm.Chart) -> None:
    notes = chart.render(values_file("defaults"), name=RELEASE, namespace=NAMESPACE)[
        "floodwall/templates/NOTES.txt"
    ]
    assert f"helm test {RELEASE} -n {NAMESPACE}" in notes and CONSUMERS in notes

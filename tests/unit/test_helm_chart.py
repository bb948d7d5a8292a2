"""The Helm chart, rendered and linted by the real Helm engine (helm-python-sdk: Helm's Go SDK, no binary):
lint-clean under several values files, bad values rejected with a message naming the value, every
container locked down, a Role that can only scale the consumers, probes on the port the app really
listens on, and every value described and documented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from floodwall.consumers.config import ConsumerSettings
from tests.unit import autoscaler_contract
from tests.unit.helm_render import (
    AUTOSCALER,
    CHART,
    CONSUMERS,
    NAMESPACE,
    RELEASE,
    VALUES_FILES,
    container_env,
    find,
    merged,
    one,
    pod_specs,
    render,
    settings_from_env,
    values_file,
)

# ---- lint and schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_lint_is_clean(path: Path) -> None:
    report = helm.lint(CHART, yaml.safe_load(path.read_text()), strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [] and problems == [], report


def test_lint_reports_a_broken_template(tmp_path: Path) -> None:
    """The lint call can fail: a copy of the chart with a template error is reported."""
    copy = tmp_path / "floodwall"
    with helm.Chart.load(CHART) as loaded:
        loaded.save_dir(tmp_path)
    (copy / "templates" / "broken.yaml").write_text(
        "kind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.nope }}\n"
    )
    report = helm.lint(copy, values_file("defaults"), strict=True)
    assert report["errors"], report


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"consumers": {"metricsPort": 80}}, "at '/consumers/metricsPort': minimum: got 80, want 1,024"),
        (
            {"consumers": {"settings": {"batchMaxEvent": 5}}},
            "additional properties 'batchMaxEvent' not allowed",
        ),
        (
            {"consumers": {"settings": {"batchLingerS": 120}}},
            "at '/consumers/settings/batchLingerS': maximum",
        ),
        (
            {"consumers": {"terminationGracePeriodSeconds": 10}},
            "at '/consumers/terminationGracePeriodSeconds'",
        ),
        (
            {"autoscaler": {"policy": "hpa"}},
            "at '/autoscaler/policy': value must be one of 'floodwall', 'keda'",
        ),
        ({"autoscaler": {"patroniUrls": ["pg-0:8008"]}}, "at '/autoscaler/patroniUrls/0'"),
        ({"kafka": {"bootstrapServers": "kafka without port"}}, "at '/kafka/bootstrapServers'"),
        ({"kafka": {"ordersTopic": "orders topic"}}, "at '/kafka/ordersTopic'"),
        ({"writeBudgetRowsPerS": -1}, "at '/writeBudgetRowsPerS': minimum: got -1, want 0"),
        ({"topics": {"replicationFactor": 0}}, "at '/topics/replicationFactor': minimum"),
        (
            {"monitoring": {"serviceMonitor": {"interval": "15 seconds"}}},
            "at '/monitoring/serviceMonitor/interval'",
        ),
        ({"database": {"password": "hunter2"}}, "additional properties 'password' not allowed"),
        ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, bad: dict[str, Any], message: str) -> None:
    values = merged(values_file("defaults"), bad)
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database": {"existingSecret": "floodwall-db"}}, "kafka.bootstrapServers is required"),
        ({"kafka": {"bootstrapServers": "kafka:9092"}}, "database.existingSecret is required"),
        ({**values_file("defaults"), "autoscaler": {"minReplicas": 5, "maxReplicas": 2}},
         "autoscaler.minReplicas (5) is above autoscaler.maxReplicas (2)"),
        ({**values_file("defaults"),
          "monitoring": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
         "enable one, or every target is scraped twice"),
    ],
)  # fmt: skip
def test_inconsistent_values_fail_with_a_clear_message(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)


# ---- security --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defaults", "monitoring", "no-autoscaler"])
def test_every_container_is_locked_down(chart: helm.Chart, name: str) -> None:
    specs = pod_specs(render(chart, values_file(name)))
    assert len(specs) >= 4
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["runAsNonRoot"] is True and sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], where
            # The only writable paths are emptyDirs.
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in container.get("volumeMounts", []):
                assert "emptyDir" in volumes[mount["name"]], where
            assert "resources" in container and container["resources"]["limits"]["memory"], where


def test_only_the_autoscaler_gets_an_api_token(chart: helm.Chart) -> None:
    for where, spec in pod_specs(render(chart, values_file("defaults"))):
        expected = where == f"Deployment/{AUTOSCALER}"
        assert spec["automountServiceAccountToken"] is expected, where


def test_role_can_only_scale_the_consumers(chart: helm.Chart) -> None:
    docs = render(chart, values_file("defaults"))
    assert find(docs, "ClusterRole") == [] and find(docs, "ClusterRoleBinding") == []
    (role,) = find(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": [CONSUMERS],
            "verbs": ["get", "patch", "update"],
        }
    ]
    (binding,) = find(docs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    sa = one(docs, "Deployment", AUTOSCALER)["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    one(docs, "ServiceAccount", sa)
    one(docs, "Deployment", CONSUMERS)  # the name in resourceNames is the real Deployment


def test_no_secret_is_rendered_and_the_database_url_comes_from_the_existing_secret(chart: helm.Chart) -> None:
    docs = render(chart, values_file("monitoring"))
    assert find(docs, "Secret") == []
    assert "DATABASE_URL" not in json.dumps([d.get("data", {}) for d in find(docs, "ConfigMap")])
    for where, spec in pod_specs(docs):
        for var in spec["containers"][0].get("env", []):
            if var["name"] == "FLOODWALL_DATABASE_URL":
                assert var["valueFrom"]["secretKeyRef"] == {"name": "floodwall-db", "key": "database-url"}, (
                    where
                )


# ---- replicas, probes, shutdown ---------------------------------------------------------------------------


def test_replicas_are_left_to_the_autoscaler(chart: helm.Chart) -> None:
    with_autoscaler = one(render(chart, values_file("defaults")), "Deployment", CONSUMERS)
    assert "replicas" not in with_autoscaler["spec"]
    fixed = render(chart, values_file("no-autoscaler"))
    assert one(fixed, "Deployment", CONSUMERS)["spec"]["replicas"] == 3
    assert find(fixed, "Deployment", AUTOSCALER) == [] and find(fixed, "Role") == []


@pytest.mark.parametrize("port", [None, 24000])
def test_consumer_probes_hit_the_port_the_consumer_listens_on(
    chart: helm.Chart, port: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = (
        values_file("defaults")
        if port is None
        else merged(values_file("defaults"), {"consumers": {"metricsPort": port}})
    )
    docs = render(chart, values)
    spec = one(docs, "Deployment", CONSUMERS)["spec"]["template"]["spec"]
    settings = settings_from_env(ConsumerSettings, container_env(docs, spec), monkeypatch)
    expected = port or ConsumerSettings.model_fields["metrics_port"].default
    assert settings.metrics_port == expected and settings.metrics_host == "0.0.0.0"
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": expected}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    service = one(docs, "Service", f"{CONSUMERS}-metrics")
    assert (
        service["spec"]["ports"][0]["targetPort"] == "metrics"
        and service["spec"]["ports"][0]["port"] == expected
    )


def test_autoscaler_probes_hit_its_metrics_port(chart: helm.Chart) -> None:
    docs = render(chart, values_file("defaults"))
    spec = one(docs, "Deployment", AUTOSCALER)["spec"]["template"]["spec"]
    env = container_env(docs, spec)
    (container,) = spec["containers"]
    assert env["FLOODWALL_METRICS_HOST"] == "0.0.0.0"
    assert int(env["FLOODWALL_METRICS_PORT"]) == autoscaler_contract.METRICS_PORT_DEFAULT
    assert container["ports"] == [
        {"name": "metrics", "containerPort": autoscaler_contract.METRICS_PORT_DEFAULT, "protocol": "TCP"}
    ]
    assert (
        container["livenessProbe"]["httpGet"]["port"]
        == container["readinessProbe"]["httpGet"]["port"]
        == "metrics"
    )


def test_termination_grace_exceeds_the_consumer_shutdown_bound(chart: helm.Chart) -> None:
    spec = one(render(chart, values_file("defaults")), "Deployment", CONSUMERS)["spec"]["template"]["spec"]
    shutdown_bound_s = 30  # one batch plus database retries cut short on SIGTERM
    assert spec["terminationGracePeriodSeconds"] > shutdown_bound_s


def test_pdb_covers_the_consumer_pods(chart: helm.Chart) -> None:
    docs = render(chart, values_file("defaults"))
    pdb = one(docs, "PodDisruptionBudget", CONSUMERS)
    pod_labels = one(docs, "Deployment", CONSUMERS)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def schema_leaves(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    props = node.get("properties")
    if props and node.get("additionalProperties") is False:
        for key, sub in props.items():
            yield from schema_leaves(sub, f"{path}.{key}" if path else key)
    else:
        yield path, node


def test_every_value_is_described_and_documented(chart: helm.Chart) -> None:
    schema = chart.schema
    assert schema is not None
    readme = (CHART / "README.md").read_text()
    for path, node in schema_leaves(schema):
        if path == "global" or path.startswith("consumers.settings."):
            continue
        assert node.get("description"), f"{path} has no description in values.schema.json"
        assert f"`{path}`" in readme, f"{path} is not in helm/floodwall/README.md"
    for key in schema["properties"]["consumers"]["properties"]["settings"]["properties"]:
        assert f"`{key}`" in readme, key

"""The Helm chart, rendered and linted by the real Helm engine (helm-python-sdk: Helm's Go SDK, no binary).

Checks what the issue asks of the manifests: lint-clean under several values files, bad values rejected
with a message naming the value, every container locked down, a Role that can only scale the consumers,
probes on the port the app really listens on, and pod settings the CLI really reads (loaded through
Floodwall's own settings classes).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from consumers.config import ConsumerSettings
from floodwall.cli import build_parser
from floodwall.db.config import DbSettings
from floodwall.monitoring import alert_rules_text
from floodwall.monitoring.export import chart_files
from floodwall.settings import ENV_PREFIX, ServiceSettings, load_settings
from floodwall.topics_cli import TopicsSettings
from tests.unit import autoscaler_contract

CHART = Path(__file__).resolve().parents[2] / "helm" / "floodwall"
VALUES_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE, NAMESPACE = "shop", "ingest"
CONSUMERS = f"{RELEASE}-floodwall-consumers"
AUTOSCALER = f"{RELEASE}-floodwall-autoscaler"
DB_URL_PLACEHOLDER = "postgresql://floodwall@db-write:5432/floodwall"
# Settings the chart sets itself for a consumer (the rest are consumers.settings in camelCase).
CHART_SET_CONSUMER_FIELDS = {
    "bootstrap_servers", "orders_topic", "inventory_topic", "dlq_topic", "group_id", "database_url",
    "write_budget_rows_per_s", "metrics_host", "metrics_port", "state_dir",
}  # fmt: skip

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def values_file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def render(chart: helm.Chart, values: dict[str, Any]) -> list[Manifest]:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def find(docs: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[Manifest]) -> list[tuple[str, Manifest]]:
    specs = []
    for d in docs:
        if d["kind"] in {"Deployment", "Job"}:
            specs.append((f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
        elif d["kind"] == "Pod":
            specs.append((f"Pod/{d['metadata']['name']}", d["spec"]))
    return specs


def container_env(docs: list[Manifest], spec: Manifest) -> dict[str, str]:
    """A container's FLOODWALL_* environment: envFrom ConfigMaps, then env (a stand-in for the Secret)."""
    (container,) = spec["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("floodwall-db", "database-url")
            env[var["name"]] = DB_URL_PLACEHOLDER
    return env


def settings_from_env(
    cls: type[ServiceSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Load ``cls`` exactly as the process in the pod would, from this environment only."""
    with monkeypatch.context() as m:
        for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
            m.delenv(key)
        for key, value in env.items():
            m.setenv(key, value)
        return load_settings(cls)


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


# ---- every setting the CLI reads is provided --------------------------------------------------------------


def test_consumer_pod_settings_are_real_and_complete(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = values_file("no-autoscaler")
    docs = render(chart, values)
    env = container_env(docs, one(docs, "Deployment", CONSUMERS)["spec"]["template"]["spec"])
    fields = set(ConsumerSettings.model_fields)
    names = {k.removeprefix(ENV_PREFIX).lower() for k in env}
    assert names <= fields, f"not ConsumerSettings fields: {names - fields}"
    assert names >= CHART_SET_CONSUMER_FIELDS
    s = settings_from_env(ConsumerSettings, env, monkeypatch)
    assert s.bootstrap_servers == values["kafka"]["bootstrapServers"] and s.database_url == DB_URL_PLACEHOLDER
    assert (s.group_id, s.orders_topic, s.inventory_topic, s.dlq_topic) == (
        "floodwall-sink",
        "orders",
        "inventory",
        "dlq",
    )
    for camel, value in values["consumers"]["settings"].items():
        assert getattr(s, snake(camel)) == value


def snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def test_every_consumer_setting_is_reachable_from_values(chart: helm.Chart) -> None:
    """Each ConsumerSettings field is set by the chart or settable in consumers.settings, with its bounds."""
    schema = chart.schema
    assert schema is not None
    settable = schema["properties"]["consumers"]["properties"]["settings"]["properties"]
    model = ConsumerSettings.model_json_schema()["properties"]
    assert {snake(k) for k in settable} | CHART_SET_CONSUMER_FIELDS == set(ConsumerSettings.model_fields)
    assert not {snake(k) for k in settable} & CHART_SET_CONSUMER_FIELDS
    for camel, rule in settable.items():
        field = model[snake(camel)]
        assert rule["type"] == field["type"], camel
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            assert rule.get(bound) == field.get(bound), f"{camel}.{bound}"
        assert rule["description"]


def test_autoscaler_pod_settings_match_the_contract(chart: helm.Chart) -> None:
    urls = ["http://pg-0.pg:8008", "http://pg-1.pg:8008"]
    values = merged(
        values_file("defaults"), {"autoscaler": {"targetDrainS": 120, "tickS": 2.5, "patroniUrls": urls}}
    )
    docs = render(chart, values)
    env = container_env(docs, one(docs, "Deployment", AUTOSCALER)["spec"]["template"]["spec"])
    names = {k.removeprefix(ENV_PREFIX).lower() for k in env}
    assert names == autoscaler_contract.SETTINGS_FIELDS
    assert env["FLOODWALL_ACTUATOR"] == "kubernetes"
    assert (env["FLOODWALL_K8S_NAMESPACE"], env["FLOODWALL_K8S_DEPLOYMENT"]) == (NAMESPACE, CONSUMERS)
    assert env["FLOODWALL_PATRONI_URLS"] == "http://pg-0.pg:8008,http://pg-1.pg:8008"
    assert (env["FLOODWALL_TARGET_DRAIN_S"], env["FLOODWALL_TICK_S"]) == ("120", "2.5")
    assert env["FLOODWALL_GROUP_ID"] == one(docs, "ConfigMap", CONSUMERS)["data"]["FLOODWALL_GROUP_ID"]
    # Optional tuning left unset means: the autoscaler's own defaults.
    plain = render(chart, values_file("defaults"))
    plain_env = container_env(plain, one(plain, "Deployment", AUTOSCALER)["spec"]["template"]["spec"])
    assert not {"FLOODWALL_TARGET_DRAIN_S", "FLOODWALL_TICK_S", "FLOODWALL_PATRONI_URLS"} & set(plain_env)


def test_hook_jobs_run_real_commands_with_valid_settings(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(chart, values_file("defaults"))
    jobs = {j["metadata"]["name"]: j for j in find(docs, "Job")}
    assert set(jobs) == {f"{RELEASE}-floodwall-migrate", f"{RELEASE}-floodwall-topics"}
    for job in jobs.values():
        notes = job["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "before-hook-creation" in notes["helm.sh/hook-delete-policy"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    migrate = jobs[f"{RELEASE}-floodwall-migrate"]["spec"]["template"]["spec"]
    topics = jobs[f"{RELEASE}-floodwall-topics"]["spec"]["template"]["spec"]
    assert migrate["containers"][0]["args"] == ["db", "migrate"]
    assert topics["containers"][0]["args"] == ["topics", "create"]
    db = settings_from_env(DbSettings, container_env(docs, migrate), monkeypatch)
    assert db.database_url == DB_URL_PLACEHOLDER
    t = settings_from_env(TopicsSettings, container_env(docs, topics), monkeypatch)
    assert (t.partitions, t.replication_factor, t.dlq_topic) == (12, 3, "dlq")
    # Hooks run before the release's ConfigMaps exist: they must not depend on them.
    assert "envFrom" not in migrate["containers"][0] and "envFrom" not in topics["containers"][0]


def test_container_commands_exist(chart: helm.Chart) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = set(commands.choices)
    for _where, spec in pod_specs(render(chart, values_file("defaults"))):
        container = spec["containers"][0]
        if "command" in container:  # the test Pod runs python itself
            continue
        args = container["args"]
        if args[0] in autoscaler_contract.PENDING_COMMANDS:
            assert args[0] not in registered, (
                f"`floodwall {args[0]}` exists now: remove it from PENDING_COMMANDS"
            )
            continue
        parser.parse_args(args)  # raises SystemExit for an unknown command


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

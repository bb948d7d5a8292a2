"""Every setting the CLI reads is provided: the pods' environment, loaded through Floodwall's own settings
classes (or the autoscaler's contract), and commands that exist."""

from __future__ import annotations

import argparse

import helm_python as helm
import pytest

from floodwall.cli import build_parser
from floodwall.cli.topics import TopicsSettings
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import DbSettings
from floodwall.settings import ENV_PREFIX, ServiceSettings
from tests.unit import autoscaler_contract
from tests.unit.helm_render import (
    AUTOSCALER,
    CONSUMERS,
    DB_URL_PLACEHOLDER,
    NAMESPACE,
    RELEASE,
    container_env,
    find,
    merged,
    one,
    pod_specs,
    render,
    settings_from_env,
    values_file,
)

# Settings the chart sets itself for a consumer (the rest are consumers.settings in camelCase).
CHART_SET_CONSUMER_FIELDS = {
    "bootstrap_servers", "orders_topic", "inventory_topic", "dlq_topic", "group_id", "database_url",
    "write_budget_rows_per_s", "metrics_host", "metrics_port", "state_dir",
}  # fmt: skip
# Set by the chart only when values ask for it (kafka.connectionSecret).
CHART_OPTIONAL_CONSUMER_FIELDS = {"kafka_connection"}


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
    chart_set = CHART_SET_CONSUMER_FIELDS | CHART_OPTIONAL_CONSUMER_FIELDS
    assert {snake(k) for k in settable} | chart_set == set(ConsumerSettings.model_fields)
    assert not {snake(k) for k in settable} & chart_set
    for camel, rule in settable.items():
        field = model[snake(camel)]
        assert rule["type"] == field["type"], camel
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            assert rule.get(bound) == field.get(bound), f"{camel}.{bound}"
        assert rule["description"]


def test_kafka_tls_sasl_settings_reach_every_kafka_client_from_the_named_secret(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    from floodwall.autoscaler.config import AutoscalerSettings
    from floodwall.kafkaconn import connection_conf

    plain = render(chart, values_file("defaults"))
    assert not any("FLOODWALL_KAFKA_CONNECTION" in container_env(plain, spec) for _, spec in pod_specs(plain))
    docs = render(chart, merged(values_file("defaults"), {"kafka": {"connectionSecret": "kafka-client"}}))
    clients: dict[str, type[ServiceSettings]] = {
        f"Deployment/{CONSUMERS}": ConsumerSettings,
        f"Deployment/{RELEASE}-floodwall-autoscaler": AutoscalerSettings,
        f"Job/{RELEASE}-floodwall-topics": TopicsSettings,
    }
    found = {name: container_env(docs, spec) for name, spec in pod_specs(docs) if name in clients}
    assert set(found) == set(clients)
    for name, env in found.items():
        settings = settings_from_env(clients[name], env, monkeypatch)
        assert connection_conf(settings.kafka_connection)["security.protocol"] == "SASL_SSL", name


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
    assert t.dlq_retention_days == 14
    # Hooks run before the release's ConfigMaps exist: they must not depend on them.
    assert "envFrom" not in migrate["containers"][0] and "envFrom" not in topics["containers"][0]


def test_the_dlq_retention_reaches_the_topics_job(chart: helm.Chart, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(chart, merged(values_file("defaults"), {"topics": {"dlqRetentionDays": 30}}))
    (job,) = (j for j in find(docs, "Job") if j["metadata"]["name"].endswith("-topics"))
    spec = job["spec"]["template"]["spec"]
    assert settings_from_env(TopicsSettings, container_env(docs, spec), monkeypatch).dlq_retention_days == 30


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

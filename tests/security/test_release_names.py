"""Any release name starts: every pod's environment, service links included, loads through the real
settings class of the command it runs — under release names that make Kubernetes inject FLOODWALL_*
variables (``floodwall``: Services ``floodwall-consumers-metrics`` ...; ``floodwall-prod``) and one that
does not (``shop``)."""

from __future__ import annotations

import logging

import helm_python as helm
import pytest

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.cli.topics import TopicsSettings
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import DbSettings
from floodwall.settings import ENV_PREFIX, ServiceSettings, known_setting_names
from tests.security.kubelet_env import pod_env, service_link_env
from tests.unit.helm_render import (
    Manifest,
    container_env,
    find,
    merged,
    pod_specs,
    render,
    settings_from_env,
    values_file,
)

RELEASES = ["floodwall", "floodwall-prod", "shop"]
# The settings class each container's command loads (the `helm test` Pod runs python itself).
SETTINGS_OF_COMMAND: dict[tuple[str, ...], type[ServiceSettings]] = {
    ("consume",): ConsumerSettings,
    ("autoscale",): AutoscalerSettings,
    ("db", "migrate"): DbSettings,
    ("topics", "create"): TopicsSettings,
}
# Every optional Kafka client setting on, so that the TLS/SASL Secret's variable is in the mix too.
VALUES = merged(values_file("defaults"), {"kafka": {"connectionSecret": "kafka-client"}})


def floodwall_pods(docs: list[Manifest]) -> list[tuple[str, Manifest, type[ServiceSettings]]]:
    """(where, pod spec, settings class) of every pod that runs a floodwall command."""
    pods = []
    for where, spec in pod_specs(docs):
        (container,) = spec["containers"]
        if "command" in container:  # the helm test Pod: python -c, no Floodwall settings
            continue
        args = tuple(container["args"])
        assert args in SETTINGS_OF_COMMAND, f"{where} runs `floodwall {' '.join(args)}`: add its settings"
        pods.append((where, spec, SETTINGS_OF_COMMAND[args]))
    return pods


def links_on(spec: Manifest) -> Manifest:
    """The pod spec as it was before the chart turned service links off (the Kubernetes default)."""
    return {k: v for k, v in spec.items() if k != "enableServiceLinks"}


@pytest.mark.parametrize("release", RELEASES)
def test_every_pod_turns_service_links_off(chart: helm.Chart, release: str) -> None:
    docs = render(chart, VALUES, release)
    services = find(docs, "Service")
    assert services, "the chart renders Services: the test needs them to mean anything"
    for where, spec in pod_specs(docs):
        assert spec.get("enableServiceLinks") is False, f"{where} gets service-link variables"
        env = pod_env(spec, {}, services)
        assert not set(service_link_env(services)) & set(env), where  # only the kubernetes Service's


@pytest.mark.parametrize("release", RELEASES)
def test_every_pod_loads_its_settings_with_links_off(
    chart: helm.Chart, release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(chart, VALUES, release)
    pods = floodwall_pods(docs)
    assert {cls for _, _, cls in pods} == set(SETTINGS_OF_COMMAND.values())
    for where, spec, cls in pods:
        own = container_env(docs, spec)
        # The loader ignores variables it does not own, so a misnamed one in the chart would go unseen.
        stray = {k for k in own if k.removeprefix(ENV_PREFIX).lower() not in cls.model_fields}
        assert not stray, f"{where} sets variables `floodwall` ignores: {stray}"
        env = pod_env(spec, own, find(docs, "Service"))
        assert {k for k in env if k.startswith(ENV_PREFIX)} == set(own), where
        settings_from_env(cls, env, monkeypatch)  # raises ConfigError as the process would exit 2


@pytest.mark.parametrize("release", RELEASES)
def test_the_loader_survives_service_links_anyway(
    chart: helm.Chart, release: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With links on (an older chart, a patched pod, a neighbour's Services), each pod still starts with
    exactly the settings it has with links off, and nothing is warned about."""
    docs = render(chart, VALUES, release)
    services = find(docs, "Service")
    links = service_link_env(services)
    if release.startswith("floodwall"):  # the case that used to crash-loop: links in FLOODWALL_*
        assert any(name.startswith(ENV_PREFIX) for name in links), sorted(links)
    known = {ENV_PREFIX + name.upper() for name in known_setting_names()}
    assert not known & set(links), "a Service name whose links would be read as a setting"
    for where, spec, cls in floodwall_pods(docs):
        own = container_env(docs, spec)
        with_links = pod_env(links_on(spec), own, services)
        assert set(links) <= set(with_links), where
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="floodwall.settings"):
            linked = settings_from_env(cls, with_links, monkeypatch)
        assert linked == settings_from_env(cls, pod_env(spec, own, services), monkeypatch), where
        assert not caplog.records, f"{where}: {[r.getMessage() for r in caplog.records]}"


def test_releases_sharing_a_namespace_see_each_others_links(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubelet links every Service of the namespace: floodwall and floodwall-prod side by side."""
    renders = {release: render(chart, VALUES, release) for release in RELEASES}
    everyone = [service for docs in renders.values() for service in find(docs, "Service")]
    for docs in renders.values():
        for where, spec, cls in floodwall_pods(docs):
            own = container_env(docs, spec)
            env = pod_env(links_on(spec), own, everyone)
            assert f"{ENV_PREFIX}PROD_CONSUMERS_METRICS_SERVICE_HOST" in env, where
            linked = settings_from_env(cls, env, monkeypatch)
            assert linked == settings_from_env(cls, own, monkeypatch), where

"""Rendering the Helm chart with the real Helm engine (helm-python-sdk) and reading the manifests back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from floodwall.settings import ENV_PREFIX, ServiceSettings, load_settings

CHART = Path(__file__).resolve().parents[2] / "helm" / "floodwall"
VALUES_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE, NAMESPACE = "shop", "ingest"
CONSUMERS = f"{RELEASE}-floodwall-consumers"
AUTOSCALER = f"{RELEASE}-floodwall-autoscaler"
DB_URL_PLACEHOLDER = "postgresql://floodwall@db-write:5432/floodwall"

Manifest = dict[str, Any]


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


def render(chart: helm.Chart, values: dict[str, Any], release: str = RELEASE) -> list[Manifest]:
    rendered = chart.render(values, name=release, namespace=NAMESPACE, is_install=True)
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


KAFKA_CONNECTION_PLACEHOLDER = '{"security.protocol": "SASL_SSL", "sasl.password": "from-the-secret"}'
# What the test Secrets hold: (name, key) -> value.
SECRET_STAND_INS = {
    ("floodwall-db", "database-url"): DB_URL_PLACEHOLDER,
    ("kafka-client", "kafka-connection.json"): KAFKA_CONNECTION_PLACEHOLDER,
}


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
            stand_in = SECRET_STAND_INS.get((ref["name"], ref["key"]))
            assert stand_in is not None, f"unexpected Secret reference {ref}"
            env[var["name"]] = stand_in
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

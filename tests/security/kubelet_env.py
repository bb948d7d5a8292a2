"""A pod's environment as kubelet builds it: the container's own variables plus the service links.

Kubernetes (pkg/kubelet/envvars, ``FromServices``) gives every container, unless its pod spec says
``enableServiceLinks: false``, these variables for each Service of the pod's namespace that has a cluster
IP (headless and ExternalName Services are skipped), with NAME = the Service name upper-cased, ``-`` -> ``_``:

- ``NAME_SERVICE_HOST`` = the cluster IP, ``NAME_SERVICE_PORT`` = the first port,
  ``NAME_SERVICE_PORT_<PORTNAME>`` = each named port;
- Docker-link style: ``NAME_PORT`` = ``tcp://IP:PORT`` of the first port and, for every port,
  ``NAME_PORT_<PORT>_<PROTO>`` = ``tcp://IP:PORT`` with ``_PROTO`` (``tcp``), ``_PORT`` and ``_ADDR``.

The ``kubernetes`` Service of the ``default`` namespace is linked whatever ``enableServiceLinks`` says.
Variables the container sets itself win over service links of the same name.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

# What the API server would allocate; any address does, the loader must never read these values.
_CLUSTER_IP_BASE = "10.96.0."
KUBERNETES_SERVICE: Manifest = {
    "kind": "Service",
    "metadata": {"name": "kubernetes"},
    "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
}


def link_name(service_name: str) -> str:
    """kubelet's ``makeEnvVariableName``: upper case, ``-`` -> ``_``."""
    return service_name.upper().replace("-", "_")


def service_link_env(services: list[Manifest]) -> dict[str, str]:
    """The variables kubelet derives from ``services`` (each given a stand-in cluster IP if it has none)."""
    env: dict[str, str] = {}
    for n, service in enumerate(services, start=10):
        spec = service["spec"]
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            continue
        ip = spec.get("clusterIP") or f"{_CLUSTER_IP_BASE}{n}"
        prefix = link_name(service["metadata"]["name"])
        ports = spec["ports"]
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{link_name(port['name'])}"] = str(port["port"])
        for i, port in enumerate(ports):
            proto = port.get("protocol", "TCP")
            url = f"{proto.lower()}://{ip}:{port['port']}"
            if i == 0:
                env[f"{prefix}_PORT"] = url
            base = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            env[base] = url
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(port["port"])
            env[f"{base}_ADDR"] = ip
    return env


def pod_env(
    spec: Manifest, container_env: dict[str, str], namespace_services: list[Manifest]
) -> dict[str, str]:
    """The environment of the pod's container: its own variables over the service links kubelet adds."""
    linked = [KUBERNETES_SERVICE]
    if spec.get("enableServiceLinks", True) is not False:  # the Kubernetes default is true
        linked += namespace_services
    return {**service_link_env(linked), **container_env}

"""The Kubernetes actuator: the consumers Deployment's ``scale`` subresource (``apps/v1``).

It needs exactly this RBAC in the Deployment's namespace (the chart's Role)::

    - apiGroups: ["apps"]
      resources: ["deployments/scale"]
      verbs: ["get", "patch", "update"]

``scale`` PATCHes ``{"spec": {"replicas": N}}``: an absolute count, so a retry after a lost answer cannot
double a step. Conflicts (409), throttling (429), server errors (5xx) and lost connections are retried
with jittered exponential backoff; 401/403/404 are not (a user must fix them) and become one clear
:class:`ActuationError`.
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from floodwall.autoscaler.actuators import ActuationError

RETRYABLE_STATUS = {409, 429, 500, 502, 503, 504}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in RETRYABLE_STATUS
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


class KubernetesDeployment:
    """Reads and sets ``spec.replicas`` of Deployment ``name`` in ``namespace``."""

    def __init__(
        self, namespace: str, name: str, api_client: client.ApiClient | None = None, attempts: int = 5
    ) -> None:
        self.namespace = namespace
        self.name = name
        self._api = client.AppsV1Api(api_client or _default_client())
        self._retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            stop=stop_after_attempt(attempts),
            reraise=True,
        )

    def current(self) -> int:
        scale = self._call(
            "read", lambda: self._api.read_namespaced_deployment_scale(self.name, self.namespace)
        )
        return int(scale.spec.replicas or 0)

    def scale(self, replicas: int) -> None:
        if replicas < 0:
            raise ActuationError(f"cannot run {replicas} replicas")
        body = {"spec": {"replicas": replicas}}
        self._call(
            "patch",
            lambda: self._api.patch_namespaced_deployment_scale(self.name, self.namespace, body),
        )

    def close(self) -> None:
        self._api.api_client.close()

    def _call(self, verb: str, request: Any) -> Any:
        target = f"deployments/{self.name}/scale in namespace {self.namespace}"
        try:
            return self._retrying(request)
        except ApiException as exc:
            raise ActuationError(_explain(exc, verb, target)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ActuationError(f"cannot {verb} {target}: the API server did not answer ({exc})") from exc


def _explain(exc: ApiException, verb: str, target: str) -> str:
    if exc.status in (401, 403):
        return (
            f"not allowed to {verb} {target} (HTTP {exc.status}): the service account needs "
            f"get/patch/update on deployments/scale in that namespace (see docs/autoscaler.md, RBAC)"
        )
    if exc.status == 404:
        return f"{target} not found (HTTP 404): check k8s_namespace and k8s_deployment"
    return f"cannot {verb} {target}: HTTP {exc.status} {exc.reason} (gave up after retries)"


def _default_client() -> client.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig. Raises ActuationError."""
    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise ActuationError(
                f"no Kubernetes credentials: not in a pod and no usable kubeconfig ({exc})"
            ) from exc
    return client.ApiClient()

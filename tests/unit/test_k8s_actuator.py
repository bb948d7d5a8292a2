"""The Kubernetes actuator, with the real kubernetes client, against an HTTP stand-in of apps/v1 scale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from floodwall.autoscaler.actuators import ActuationError
from floodwall.autoscaler.actuators.kubernetes import KubernetesDeployment
from tests.k8s_standin import ScaleApi, serve

SCALE_PATH = "/apis/apps/v1/namespaces/shop/deployments/floodwall-consumers/scale"


@pytest.fixture
def api() -> Iterator[tuple[ScaleApi, client.ApiClient]]:
    state = ScaleApi(deployments={("shop", "floodwall-consumers"): 2})
    server, url = serve(state)
    configuration = client.Configuration(host=url)
    api_client = client.ApiClient(configuration)
    yield state, api_client
    api_client.close()
    server.shutdown()


def deployment(api_client: client.ApiClient, name: str = "floodwall-consumers") -> KubernetesDeployment:
    return KubernetesDeployment("shop", name, api_client=api_client, attempts=4)


def test_reads_and_patches_the_scale_subresource(api: tuple[ScaleApi, client.ApiClient]) -> None:
    state, api_client = api
    target = deployment(api_client)
    assert target.current() == 2
    target.scale(5)
    assert state.deployments[("shop", "floodwall-consumers")] == 5
    assert target.current() == 5
    get, patch, _ = state.requests
    assert (get.method, get.path) == ("GET", SCALE_PATH)
    assert (patch.method, patch.path) == ("PATCH", SCALE_PATH)
    assert patch.body == {"spec": {"replicas": 5}}  # an absolute count: safe to repeat
    assert patch.content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json")


@pytest.mark.parametrize("status", [409, 429, 500, 503])
def test_conflicts_throttling_and_server_errors_are_retried(
    api: tuple[ScaleApi, client.ApiClient], status: int
) -> None:
    state, api_client = api
    state.failures = [status, status]
    deployment(api_client).scale(3)
    assert state.deployments[("shop", "floodwall-consumers")] == 3
    assert [r.method for r in state.requests] == ["PATCH"] * 3


def test_a_persistent_server_error_gives_up_with_a_clear_message(
    api: tuple[ScaleApi, client.ApiClient],
) -> None:
    state, api_client = api
    state.failures = [503] * 10
    with pytest.raises(ActuationError, match=r"HTTP 503 .*gave up after retries"):
        deployment(api_client).scale(3)
    assert len(state.requests) == 4  # attempts
    assert state.deployments[("shop", "floodwall-consumers")] == 2


def test_forbidden_is_not_retried_and_names_the_rbac_rule(api: tuple[ScaleApi, client.ApiClient]) -> None:
    state, api_client = api
    state.failures = [403]
    with pytest.raises(ActuationError, match=r"get/patch/update on deployments/scale") as caught:
        deployment(api_client).scale(4)
    assert "namespace shop" in str(caught.value)
    assert len(state.requests) == 1


def test_a_missing_deployment_is_named(api: tuple[ScaleApi, client.ApiClient]) -> None:
    _, api_client = api
    with pytest.raises(ActuationError, match=r"deployments/nope/scale in namespace shop not found"):
        deployment(api_client, "nope").current()


def test_an_unreachable_api_server_is_a_clear_error() -> None:
    api_client = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    try:
        with pytest.raises(ActuationError, match="did not answer"):
            KubernetesDeployment("shop", "x", api_client=api_client, attempts=2).current()
    finally:
        api_client.close()

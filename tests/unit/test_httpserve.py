"""/metrics, /healthz and /readyz on one port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from floodwall.httpserve import ServiceHttp
from floodwall.stack.probes import http_get


def get(url: str) -> tuple[int, str]:
    status, body = http_get(url)
    return status, body.decode()


def test_probes_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("floodwall_test_things_total", "things", registry=registry).inc(3)
    state = {"ready": False}
    server = ServiceHttp(
        "127.0.0.1", 0, registry, lambda: (True, "alive"), lambda: (state["ready"], "waiting for the group")
    )
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(base + "/healthz") == (200, "alive\n")
        assert get(base + "/readyz") == (503, "waiting for the group\n")
        state["ready"] = True
        assert get(base + "/readyz")[0] == 200
        assert "floodwall_test_things_total 3.0" in get(base + "/metrics")[1]
        assert get(base + "/nope")[0] == 404
    finally:
        server.close()

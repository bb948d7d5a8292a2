"""A service's HTTP side: ``/metrics`` (Prometheus), ``/healthz`` (alive) and ``/readyz`` (ready for work).

Kubernetes probes and the local stack's Prometheus use the same port. Each check is a callable returning
``(ok, detail)``; the answer is 200 or 503 with the detail as text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from floodwall.errors import FloodwallError

Check = Callable[[], tuple[bool, str]]


class ServiceHttp:
    """Serves in a daemon thread until :meth:`close`. ``port`` 0 picks a free port (see ``.port``)."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, healthy: Check, ready: Check
    ) -> None:
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
            "/healthz": lambda: _probe(healthy),
            "/readyz": lambda: _probe(ready),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?")[0])
                status, kind, body = route() if route else (404, "text/plain", b"not found\n")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # probes every second: stay quiet
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise FloodwallError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror} (set metrics_port)"
            ) from None
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="floodwall-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _probe(check: Check) -> tuple[int, str, bytes]:
    ok, detail = check()
    return (200 if ok else 503), "text/plain; charset=utf-8", (detail + "\n").encode()

"""An HTTP stand-in for the Kubernetes API's ``apps/v1`` Deployment ``scale`` subresource.

It records every request, answers with realistic ``autoscaling/v1`` Scale bodies, applies merge
patches to ``spec.replicas``, and returns queued failures (403, 409, 5xx…) before serving normally.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments/(?P<name>[^/]+)/scale$")


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class ScaleApi:
    deployments: dict[tuple[str, str], int] = field(default_factory=dict)  # (namespace, name) -> replicas
    requests: list[Recorded] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer with, in order, first
    resource_version: int = 1000

    def scale_body(self, ns: str, name: str) -> dict[str, Any]:
        replicas = self.deployments[(ns, name)]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": ns, "uid": "4a1f3c2e-0000-4000-8000-000000000001",
                         "resourceVersion": str(self.resource_version),
                         "creationTimestamp": "2026-11-22T10:00:00Z"},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "selector": f"app.kubernetes.io/name={name}"},
        }  # fmt: skip


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable"}  # fmt: skip


def serve(api: ScaleApi) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in on a free loopback port; returns the server and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_PATCH(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            api.requests.append(Recorded(self.command, self.path, self.headers.get("Content-Type", ""), body))
            if api.failures:
                code = api.failures.pop(0)
                return self._send(code, status_body(code, REASONS.get(code, "Unknown"), f"injected {code}"))
            match = PATH.match(self.path.split("?")[0])
            if match is None or (match["ns"], match["name"]) not in api.deployments:
                return self._send(404, status_body(404, "NotFound", 'deployments.apps "x" not found'))
            key = (match["ns"], match["name"])
            if self.command in ("PATCH", "PUT"):
                if not isinstance(body, dict):
                    return self._send(400, status_body(400, "BadRequest", "a body is required"))
                api.deployments[key] = int(body["spec"]["replicas"])
                api.resource_version += 1
            return self._send(200, api.scale_body(*key))

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"

"""A bounded HTTP GET for probes and scrapes (Patroni, Prometheus, /metrics pages): data, or one reason."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ProbeFailed(Exception):
    """The probed endpoint is not (yet) reachable or healthy; the message says why."""


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET; HTTP error statuses are returned, not raised.

    Raises ProbeFailed when nothing answers (refused, timed out, unknown host)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProbeFailed(f"{url}: {reason}") from None


def http_json(url: str, timeout_s: float = 2.0) -> Any:
    """The JSON body of a GET. Raises ProbeFailed when nothing answers or the body is not JSON."""
    status, body = http_get(url, timeout_s)
    try:
        return json.loads(body)
    except ValueError:
        raise ProbeFailed(f"{url}: HTTP {status}, not JSON") from None

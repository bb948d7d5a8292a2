"""The ``database_url`` setting every database client declares: checked before any I/O, never echoed.

libpq's own parse errors quote the string they choke on (``missing "=" after "mysql://u:PASSWORD@h"``),
so the check here says what is wrong without it; an error message shows the URL with its password
masked (:mod:`floodwall.redact`).

psycopg (libpq's parser) is imported when a URL is checked, not with this module, so that a command's
settings and ``--help`` load without the extra that brings psycopg
(docs/deploy.md, "Which extra each role needs").
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field


def _parseable(url: str) -> str:
    if not url:  # empty: the local stack's (resolved later, see floodwall.db.config)
        return url
    # ModuleNotFoundError without psycopg is not a ValueError: it leaves pydantic as it is, and the CLI
    # names the extra to install.
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except PsycopgError:
        raise ValueError(
            "not a libpq connection string: use a URL (postgresql://user@host:port/dbname, a password "
            "after user:) or key=value pairs (host=... port=... dbname=... user=...)"
        ) from None
    ports = str(params.get("port") or "").split(",")
    if any(port and not port.strip().isdigit() for port in ports):
        raise ValueError("the port must be a number")
    return url


DatabaseUrl = Annotated[str, AfterValidator(_parseable)]


def database_url_field(
    description: str = "libpq URL of the HAProxy write port (default: the local stack's)",
) -> Any:
    """The ``database_url`` field (empty default: the local stack's write endpoint)."""
    return Field("", description=description)

"""Keeping secrets out of every message, log line and ``--help``: the one place that decides what is secret.

Secret are librdkafka settings under ``sasl.`` or ``ssl.`` and any key naming a password, secret or key
(``sasl.password``, ``ssl.key.password``, ``ssl.key.pem``, ``sasl.oauthbearer.client.secret``), and the
password of a libpq connection string, whether a URL (``postgresql://user:PASSWORD@host/db``) or
key/value conninfo (``password=PASSWORD``). Everything here only ever removes text; it never raises.

psycopg is imported only when a connection string is decoded: the producer SDK masks its settings with
this module and installs without it (see docs/sdk.md, "Installing").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

_SECRET_PREFIXES = ("sasl.", "ssl.", "sasl_", "ssl_")  # the _ forms: confluent-kafka's ssl_key etc.
_SECRET_WORDS = ("password", "passwd", "secret", "key", "token", "credential")
# user:PASSWORD@ in any scheme://… URL; the password runs to the last '@' of the token, as in libpq.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*):(?P<secret>[^\s\"']*)@")
# password=VALUE in key/value conninfo or a URL query; VALUE may be single-quoted with \-escapes.
_PAIR_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s&'\"]+)", re.I)


def is_secret_key(key: str) -> bool:
    """Whether a setting named ``key`` (librdkafka's or Floodwall's) may hold a secret."""
    lowered = key.lower()
    return lowered.startswith(_SECRET_PREFIXES) or any(word in lowered for word in _SECRET_WORDS)


def mask_mapping(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the value of every secret key (and any URL password elsewhere) masked."""
    return {str(key): mask_value(str(key), value) for key, value in config.items()}


def mask_value(name: str, value: Any) -> Any:
    """``value`` of the setting or key ``name``, safe to print: masked whole when the name is secret,
    recursively for mappings and lists, with URL/conninfo passwords masked in strings."""
    if is_secret_key(name):
        return MASK
    if isinstance(value, Mapping):
        return mask_mapping(value)
    if isinstance(value, list | tuple):
        return [mask_value(name, item) for item in value]
    if isinstance(value, str):
        return _mask_string(value)
    return value


def _mask_string(text: str) -> str:
    masked = mask_text(text, conninfo_secrets(text))
    # "password" written where libpq does not look (host=h password hunter2): withhold the whole value.
    return MASK if "password" in masked.lower() and MASK not in masked else masked


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and every password in a URL or ``password=`` pair masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _PAIR_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def conninfo_secrets(conninfo: str) -> tuple[str, ...]:
    """The password(s) in a libpq connection string as written and as libpq decodes them (``%40``)."""
    found = [m["secret"] for m in _URL_PASSWORD.finditer(conninfo)]
    found += [m["secret"].strip("'") for m in _PAIR_PASSWORD.finditer(conninfo)]
    password = _libpq_password(conninfo)
    if password:
        found.append(password)
    return tuple(s for s in found if s)


def _libpq_password(conninfo: str) -> str | None:
    """The password as libpq decodes it (``%40`` -> ``@``); None when there is none, the string does not
    parse, or psycopg is not installed — then no driver in this process can decode the password, let
    alone quote it, and the forms as written (masked above) are all that can appear."""
    try:
        from psycopg import Error as PsycopgError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None
    try:
        password = conninfo_to_dict(conninfo).get("password")
    except PsycopgError:
        return None
    return str(password) if password else None


def error_line(error: BaseException | None, conninfo: str = "") -> str:
    """The first line of ``error``'s message (its type when empty), every password masked — including
    the one in ``conninfo``, should a driver or server ever quote it."""
    if error is None:
        return "unknown error"
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return mask_text(first, conninfo_secrets(conninfo) if conninfo else ())

"""Typed, layered configuration shared by every Floodwall service.

Each service defines one subclass of :class:`ServiceSettings` (a frozen pydantic model) and builds it
once at start-up with :func:`load_settings`. Precedence, highest first:

1. command-line flags (passed in as ``overrides``),
2. environment variables ``FLOODWALL_<FIELD>`` (one flat namespace, so ``FLOODWALL_STATE_DIR`` reaches
   every service that has a ``state_dir``),
3. the service's table in a TOML file (``--config FILE`` or ``FLOODWALL_CONFIG``), e.g. ``[stack]``,
4. the defaults declared on the model.

Everything is validated before the caller does any I/O. Every problem is reported as a
:class:`~floodwall.errors.ConfigError` whose message names the setting, the value (secrets masked by
:mod:`floodwall.redact`), where the value came from and what is allowed — one line, never a traceback.

Dict-valued settings (``kafka_connection``, ``kafka_config``) are JSON objects in the environment and on
the command line, TOML tables in the file. Unknown keys in the file and unknown flags are refused, but a
``FLOODWALL_*`` variable no settings class owns is ignored: the environment is shared with whatever else
runs in the pod (Kubernetes injects ``<SERVICE>_SERVICE_HOST``-style variables for every Service, and a
release named ``floodwall`` names its Services ``floodwall-…``). A variable that looks like a misspelt
setting is reported once, as one warning line naming the setting probably meant.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from floodwall.errors import ConfigError
from floodwall.redact import MASK, conninfo_secrets, is_secret_key, mask_text, mask_value

ENV_PREFIX = "FLOODWALL_"
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG"

# The file layer is chosen at load time (``--config``), but pydantic-settings picks sources in a
# classmethod; a context variable carries the parsed table into it without global mutable state.
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("floodwall_file_values", default=None)

# Every settings class registers itself so that a misspelt FLOODWALL_* variable can be reported.
_REGISTRY: list[type[ServiceSettings]] = []

S = TypeVar("S", bound="ServiceSettings")

log = logging.getLogger(__name__)

# Near-miss variables already warned about: a command that loads two settings classes warns once.
_WARNED: set[str] = set()
# What kubelet injects for a Service (pkg/kubelet/envvars): <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT[_<NAME>],
# <SVC>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]; and <SVC>_PORT, recognised by its value (tcp://ip:port) since
# every Floodwall port setting also ends in _PORT and a typo in one of those is worth a warning.
_SERVICE_LINK_NAME = re.compile(
    r".+_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)"
)
_SERVICE_LINK_PORT = re.compile(r".+_PORT")
_SERVICE_LINK_PORT_VALUE = re.compile(r"(tcp|udp|sctp)://\S+", re.I)


class ServiceSettings(BaseSettings):
    """Base for one service's configuration. Subclasses set ``section`` (their TOML table name)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    section: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.append(cls)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_settings = InitSettingsSource(settings_cls, init_kwargs=_FILE_VALUES.get() or {})
        return (init_settings, env_settings, file_settings)


def load_settings(
    cls: type[S],
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> S:
    """Build ``cls`` from overrides > environment > config file > defaults.

    ``config_file`` defaults to ``$FLOODWALL_CONFIG`` when set. A dict-valued override given as a string
    (a flag) is decoded as JSON. Raises :class:`ConfigError` (one line, secrets masked) for an unreadable
    or malformed file, an unknown setting in the file or the overrides, malformed JSON, or a value that
    fails validation; ``FLOODWALL_*`` variables no settings class owns are ignored (near misses warned
    about once, see :func:`warn_about_near_misses`).
    """
    env = os.environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    warn_about_near_misses(env)
    for name in _json_fields(cls):
        # pydantic-settings decodes the variable even when a flag wins, and a decoding error of its own
        # is a traceback: check it here, for one clear line.
        if ENV_PREFIX + name.upper() in env:
            json_object(name, env[ENV_PREFIX + name.upper()], f" (from {ENV_PREFIX}{name.upper()})")
        if isinstance(given.get(name), str):  # a flag: --kafka-connection '{"sasl.username": "…"}'
            given[name] = json_object(name, given[name], _origin(name, given, {}, None))
    path = config_file or (Path(env[CONFIG_FILE_ENV]) if env.get(CONFIG_FILE_ENV) else None)
    file_values = _read_section(path, cls.section) if path else {}
    token = _FILE_VALUES.set(file_values)
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(cls, exc, given, file_values, path)) from None
    except SettingsError as exc:  # a value pydantic-settings cannot decode; its message names no value
        raise ConfigError(str(exc)) from None
    finally:
        _FILE_VALUES.reset(token)


def json_object(name: str, text: str, origin: str = "") -> dict[str, Any]:
    """``text`` decoded as the JSON object a dict-valued setting takes.

    Raises ConfigError naming the setting and what is wrong, never the text (it may hold secrets)."""
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ConfigError(f"invalid setting {name}{origin}: not valid JSON ({exc.msg}; {where})") from None
    if not isinstance(decoded, dict):
        kind = type(decoded).__name__
        raise ConfigError(f"invalid setting {name}{origin}: must be a JSON object {{...}}, not a {kind}")
    return decoded


def is_json_field(cls: type[ServiceSettings], name: str) -> bool:
    """Whether setting ``name`` of ``cls`` is dict-valued (JSON in env and flags, a table in TOML)."""
    return typing.get_origin(cls.model_fields[name].annotation) is dict


def _json_fields(cls: type[ServiceSettings]) -> list[str]:
    return [name for name in cls.model_fields if is_json_field(cls, name)]


def known_setting_names() -> set[str]:
    """All field names of every registered service settings class."""
    return {name for cls in _REGISTRY for name in cls.model_fields}


def warn_about_near_misses(env: Mapping[str, str]) -> None:
    """Log one warning line for the ``FLOODWALL_*`` variables that look like a misspelt setting.

    Variables nobody owns are otherwise ignored; each is warned about once per process; service-link
    variables (see ``_is_service_link``) never are."""
    known = sorted({name.upper() for name in known_setting_names()} | {"CONFIG"})  # FLOODWALL_CONFIG
    hints = []
    for var in sorted(env):
        suffix = var.removeprefix(ENV_PREFIX)
        if var == suffix or suffix in known or var in _WARNED or _is_service_link(var, env[var]):
            continue
        meant = difflib.get_close_matches(suffix, known, n=1, cutoff=0.8)
        if meant:
            _WARNED.add(var)
            hints.append(f"{var} (did you mean {ENV_PREFIX}{meant[0]}?)")
    if hints:
        log.warning("ignoring %s: no Floodwall setting has that name", ", ".join(hints))


def _is_service_link(var: str, value: str) -> bool:
    """A variable kubelet injects for a Service of the pod's namespace (``enableServiceLinks``)."""
    if _SERVICE_LINK_NAME.fullmatch(var):
        return True
    return bool(_SERVICE_LINK_PORT.fullmatch(var) and _SERVICE_LINK_PORT_VALUE.fullmatch(value))


def _read_section(path: Path, section: str) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known_sections = {cls.section for cls in _REGISTRY if cls.section}
    stray = sorted(k for k, v in document.items() if isinstance(v, dict) and k not in known_sections)
    loose = sorted(k for k, v in document.items() if not isinstance(v, dict))
    if stray:
        raise ConfigError(
            f"config file {path}: unknown section [{stray[0]}] (known: {', '.join(sorted(known_sections))})"
        )
    if loose:
        raise ConfigError(f"config file {path}: setting {loose[0]!r} must sit inside a [section]")
    table = document.get(section, {})
    return dict(table)


def _describe(
    cls: type[ServiceSettings],
    exc: ValidationError,
    given: Mapping[str, Any],
    file_values: Mapping[str, Any],
    path: Path | None,
) -> str:
    return "; ".join(_describe_one(cls, err, given, file_values, path) for err in exc.errors())


def _describe_one(
    cls: type[ServiceSettings],
    err: Mapping[str, Any],
    given: Mapping[str, Any],
    file_values: Mapping[str, Any],
    path: Path | None,
) -> str:
    loc = [str(part) for part in err.get("loc", ())]
    name = loc[0] if loc else ""
    origin = _origin(name, given, file_values, path)
    if err.get("type") == "extra_forbidden":
        return f"unknown setting {name!r}{origin}"
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not name:  # a model-level rule spanning several settings
        return mask_text(message)
    label = name + "".join(f"[{key!r}]" for key in loc[1:])  # kafka_connection['sasl.password']
    shown = _shown(cls, loc, err.get("input"))
    secrets = conninfo_secrets(err["input"]) if isinstance(err.get("input"), str) else ()
    return f"invalid setting {label}={shown!r}{origin}: {mask_text(message, secrets)}"


def _shown(cls: type[ServiceSettings], loc: list[str], value: Any) -> Any:
    """``value`` of the setting at ``loc`` as an error message may show it: secrets masked."""
    field = cls.model_fields.get(loc[0])
    if field is not None and _holds_secrets(field.annotation):  # e.g. dict[str, SecretStr]: keys only
        return {key: MASK for key in value} if isinstance(value, Mapping) else MASK
    if any(is_secret_key(key) for key in loc):  # kafka_config['sasl.jaas']['x'] is as secret as its parent
        return MASK
    return mask_value(loc[-1], value)


def _holds_secrets(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secrets(arg) for arg in typing.get_args(annotation))


def _origin(name: str, given: Mapping[str, Any], file_values: Mapping[str, Any], path: Path | None) -> str:
    if name in given:
        return " (from --" + name.replace("_", "-") + ")"
    if ENV_PREFIX + name.upper() in os.environ:
        return f" (from {ENV_PREFIX}{name.upper()})"
    if name in file_values:
        return f" (from {path})"
    return ""

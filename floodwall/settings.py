"""Typed, layered configuration shared by every Floodwall service.

Each service defines one subclass of :class:`ServiceSettings` (a frozen pydantic model) and builds it
once at start-up with :func:`load_settings`. Precedence, highest first:

1. command-line flags (passed in as ``overrides``),
2. environment variables ``FLOODWALL_<FIELD>`` (one flat namespace, so ``FLOODWALL_STATE_DIR`` reaches
   every service that has a ``state_dir``),
3. the service's table in a TOML file (``--config FILE`` or ``FLOODWALL_CONFIG``), e.g. ``[stack]``,
4. the defaults declared on the model.

Everything is validated before the caller does any I/O. Every problem is reported as a
:class:`~floodwall.errors.ConfigError` whose message names the setting, the value, where the value came
from and what is allowed — one line per problem, never a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from floodwall.errors import ConfigError

ENV_PREFIX = "FLOODWALL_"
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG"

# The file layer is chosen at load time (``--config``), but pydantic-settings picks sources in a
# classmethod; a context variable carries the parsed table into it without global mutable state.
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("floodwall_file_values", default=None)

# Every settings class registers itself so that a misspelt FLOODWALL_* variable can be reported.
_REGISTRY: list[type[ServiceSettings]] = []

S = TypeVar("S", bound="ServiceSettings")


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

    ``config_file`` defaults to ``$FLOODWALL_CONFIG`` when set. Raises :class:`ConfigError` for an
    unreadable or malformed file, an unknown
    setting anywhere, or a value that fails validation.
    """
    env = os.environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _reject_unknown_env(env)
    path = config_file or (Path(env[CONFIG_FILE_ENV]) if env.get(CONFIG_FILE_ENV) else None)
    file_values = _read_section(path, cls.section) if path else {}
    token = _FILE_VALUES.set(file_values)
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, given, file_values, path)) from None
    finally:
        _FILE_VALUES.reset(token)


def known_setting_names() -> set[str]:
    """All field names of every registered service settings class."""
    return {name for cls in _REGISTRY for name in cls.model_fields}


def _reject_unknown_env(env: Mapping[str, str]) -> None:
    known = {ENV_PREFIX + name.upper() for name in known_setting_names()} | {CONFIG_FILE_ENV}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise ConfigError(
            f"unknown setting in the environment: {', '.join(unknown)} "
            f"(known FLOODWALL_* variables: {', '.join(sorted(known))})"
        )


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
    exc: ValidationError, given: Mapping[str, Any], file_values: Mapping[str, Any], path: Path | None
) -> str:
    return "; ".join(_describe_one(err, given, file_values, path) for err in exc.errors())


def _describe_one(
    err: Mapping[str, Any], given: Mapping[str, Any], file_values: Mapping[str, Any], path: Path | None
) -> str:
    loc = [str(part) for part in err.get("loc", ())]
    name = loc[0] if loc else ""
    origin = _origin(name, given, file_values, path)
    if err.get("type") == "extra_forbidden":
        return f"unknown setting {name!r}{origin}"
    message = str(err.get("msg", "invalid"))
    if not name:  # a model-level rule spanning several settings
        return message.removeprefix("Value error, ")
    value = err.get("input")
    return f"invalid setting {name}={value!r}{origin}: {message.removeprefix('Value error, ')}"


def _origin(name: str, given: Mapping[str, Any], file_values: Mapping[str, Any], path: Path | None) -> str:
    if name in given:
        return " (from --" + name.replace("_", "-") + ")"
    if ENV_PREFIX + name.upper() in os.environ:
        return f" (from {ENV_PREFIX}{name.upper()})"
    if name in file_values:
        return f" (from {path})"
    return ""

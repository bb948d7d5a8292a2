"""Database connection settings shared by everything that talks to the sink's PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from floodwall.dburl import DatabaseUrl, database_url_field
from floodwall.errors import ConfigError
from floodwall.localstack import LocalStack, find_local_stack, state_dir_field
from floodwall.settings import ServiceSettings


class DbSettings(ServiceSettings):
    """Where the sink database is. Empty ``database_url`` means: the local stack in ``state_dir``."""

    section: ClassVar[str] = "db"

    database_url: DatabaseUrl = database_url_field()
    state_dir: Path = state_dir_field()


def resolve_database_url(database_url: str, state_dir: Path) -> str:
    """``database_url`` if set, else the local stack's write endpoint as the runtime role (DML only).

    Raises ConfigError when neither exists."""
    return database_url or _local_stack(state_dir).database_url


def resolve_owner_database_url(database_url: str, state_dir: Path) -> str:
    """``database_url`` if set, else the local stack's write endpoint as the schema owner: for
    migrations and other DDL (floodwall/db/roles.py).

    Raises ConfigError when neither exists."""
    return database_url or _local_stack(state_dir).database_owner_url


def _local_stack(state_dir: Path) -> LocalStack:
    stack = find_local_stack(state_dir)
    if stack is None:
        raise ConfigError(
            f"no database_url is set and no local stack exists in {state_dir}; "
            f"run `floodwall stack up` or set FLOODWALL_DATABASE_URL"
        )
    return stack

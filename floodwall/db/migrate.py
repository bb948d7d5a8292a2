"""Versioned schema migrations (``floodwall db migrate``).

Migrations are the files ``migrations/NNNN_name.sql`` shipped in this package. They are applied in
version order, all pending ones in one transaction under an advisory lock, so concurrent runs (two
hook jobs, a consumer and a CLI) serialise and a failure leaves the schema as it was. The applied
versions and the checksum of each file are recorded in ``floodwall_schema_migrations``; re-running is a
no-op, and a migration file edited after it was applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from floodwall.errors import FloodwallError
from floodwall.redact import error_line

# An arbitrary constant: the advisory lock key every Floodwall migrator agrees on.
_LOCK_KEY = 0x466C6F6F64  # "Flood"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS floodwall_schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(FloodwallError):
    """The database cannot be brought to this release's schema."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    """Versions applied by this run and versions that were already in place."""

    applied: tuple[int, ...]
    already: tuple[int, ...]

    @property
    def version(self) -> int:
        return max(self.applied + self.already, default=0)


def available_migrations() -> list[Migration]:
    """The migrations shipped with this release, in version order."""
    found = []
    for entry in resources.files("floodwall.db").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def migrate(conninfo: str, migrations: list[Migration] | None = None) -> MigrationReport:
    """Apply every pending migration to the database at ``conninfo``.

    Raises MigrationError when the database cannot be reached, holds a version this release does not
    know, an applied file changed, or a migration fails (then nothing of this run is applied).
    """
    wanted = available_migrations() if migrations is None else migrations
    try:
        with psycopg.connect(conninfo) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(_CREATE_TABLE)
            rows = conn.execute("SELECT version, checksum FROM floodwall_schema_migrations").fetchall()
            applied: dict[int, str] = {int(v): str(c) for v, c in rows}
            _check_history(applied, wanted)
            pending = [m for m in wanted if m.version not in applied]
            for migration in pending:
                _apply(conn, migration)
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {error_line(exc, conninfo)}") from None
    return MigrationReport(tuple(m.version for m in pending), tuple(sorted(applied)))


def _check_history(applied: dict[int, str], wanted: list[Migration]) -> None:
    known = {m.version: m for m in wanted}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationError(
            f"the database has schema version(s) {newer} that this Floodwall release does not know; "
            f"upgrade Floodwall"
        )
    for version, checksum in applied.items():
        if known[version].checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{known[version].name}.sql was changed after it was applied; "
                f"add a new migration instead of editing an old one"
            )


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    try:
        conn.execute(migration.sql.encode())  # no parameters: several statements may run in one go
    except psycopg.Error as exc:
        first = error_line(exc)
        raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {first}") from None
    conn.execute(
        "INSERT INTO floodwall_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
        (migration.version, migration.name, migration.checksum),
    )

"""``floodwall db migrate`` — bring the sink database to this release's schema."""

from __future__ import annotations

import argparse

from floodwall.cliargs import add_command_group, add_settings_command, settings_from_args
from floodwall.db.config import DbSettings, resolve_owner_database_url
from floodwall.db.migrate import available_migrations, migrate


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(commands, "db", help="manage the sink database schema")
    add_settings_command(
        sub,
        "migrate",
        DbSettings,
        _migrate,
        help="apply pending schema migrations (a no-op when up to date)",
        description="Apply the pending versioned migrations in one transaction under an advisory lock. "
        "Run it as the role that owns the schema (it needs DDL rights); the consumers connect as a "
        "runtime role with DML only (docs/deploy.md). Without --database-url, targets the local stack's "
        "HAProxy write port as its owner role.",
    )


def _migrate(args: argparse.Namespace) -> int:
    settings = settings_from_args(DbSettings, args)
    url = resolve_owner_database_url(settings.database_url, settings.state_dir)
    report = migrate(url)
    latest = max((m.version for m in available_migrations()), default=0)
    if report.applied:
        print(f"applied migrations {list(report.applied)}; schema version {report.version}")
    else:
        print(f"schema up to date (version {latest})")
    return 0

"""Migration discovery and history checks (the database side is in tests/integration)."""

from __future__ import annotations

import pytest

from floodwall.db.migrate import Migration, MigrationError, _check_history, available_migrations


def test_shipped_migrations_are_ordered_and_contain_the_sink_tables() -> None:
    migrations = available_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    sql = "\n".join(m.sql for m in migrations)
    for table in (
        "sink_offsets",
        "processed_events",
        "orders",
        "order_items",
        "stock_levels",
        "inventory_ledger",
    ):
        assert f"CREATE TABLE {table}" in sql
    assert "CHECK (available >= 0)" in sql


def test_edited_migration_is_refused() -> None:
    original = Migration(1, "init", "CREATE TABLE a ();")
    edited = Migration(1, "init", "CREATE TABLE a (x int);")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        _check_history({1: original.checksum}, [edited])


def test_database_newer_than_release_is_refused() -> None:
    with pytest.raises(MigrationError, match=r"schema version\(s\) \[2\]"):
        _check_history({1: Migration(1, "a", "x").checksum, 2: "f00"}, [Migration(1, "a", "x")])


def test_matching_history_passes() -> None:
    m = Migration(1, "a", "x")
    _check_history({1: m.checksum}, [m, Migration(2, "b", "y")])

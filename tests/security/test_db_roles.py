"""The runtime database role gets DML only; the schema owner runs the migrations (issue 12).

The grants themselves are checked on the real database in tests/integration/test_security_stack.py;
here: what migration 0002 grants, the stack's role settings, and the chart's two Secrets (real Helm
engine).
"""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import pytest

from floodwall.db.migrate import available_migrations
from floodwall.db.roles import RUNTIME_GROUP_ROLE
from floodwall.errors import ConfigError
from floodwall.settings import load_settings
from floodwall.stack.config import StackSettings
from tests.unit.helm_render import CONSUMERS, RELEASE, merged, one, render, values_file

MIGRATE_JOB = f"{RELEASE}-floodwall-migrate"


def _grant_migration() -> str:
    (found,) = [m.sql for m in available_migrations() if m.name == "runtime_role"]
    return found


def test_the_runtime_role_is_granted_dml_on_every_table_of_the_first_schema() -> None:
    first = available_migrations()[0].sql
    tables = set(re.findall(r"CREATE TABLE (\w+)", first))
    grant = _grant_migration()
    granted = re.search(r"GRANT SELECT, INSERT, UPDATE\s+ON ([\w, \n]+?)\s+TO floodwall_runtime", grant)
    assert granted, "no DML grant to the runtime role"
    assert {t.strip() for t in granted[1].split(",")} == tables
    assert "ALTER DEFAULT PRIVILEGES" in grant  # later migrations' tables are covered


def test_the_runtime_role_is_granted_no_ddl_and_no_delete() -> None:
    grants = [g for m in available_migrations() for g in re.findall(r"GRANT [^;']+", m.sql)]
    assert grants
    for grant in grants:
        assert not re.search(r"\b(ALL|CREATE|DELETE|TRUNCATE|REFERENCES|TRIGGER)\b", grant), grant
    assert RUNTIME_GROUP_ROLE in _grant_migration()


@pytest.mark.parametrize(
    "roles",
    [{"db_user": "same", "db_owner": "same"}, {"db_user": RUNTIME_GROUP_ROLE}, {"db_owner": "postgres"}],
)
def test_stack_roles_must_be_distinct_and_not_reserved(roles: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="db_user and db_owner must differ"):
        load_settings(StackSettings, roles)


def _secret_ref(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    (container,) = one(docs, kind, name)["spec"]["template"]["spec"]["containers"]
    (ref,) = [
        v["valueFrom"]["secretKeyRef"] for v in container["env"] if v["name"] == "FLOODWALL_DATABASE_URL"
    ]
    return dict(ref)


def test_the_migration_job_uses_the_owner_secret_and_the_consumers_the_runtime_secret(
    chart: helm.Chart,
) -> None:
    values = merged(values_file("defaults"), {"database": {"ownerSecret": "floodwall-db-owner",
                                                           "ownerUrlKey": "owner-url"}})  # fmt: skip
    docs = render(chart, values)
    assert _secret_ref(docs, "Job", MIGRATE_JOB) == {"name": "floodwall-db-owner", "key": "owner-url"}
    assert _secret_ref(docs, "Deployment", CONSUMERS) == {"name": "floodwall-db", "key": "database-url"}


def test_one_secret_values_keep_working_for_the_migration_job(chart: helm.Chart) -> None:
    docs = render(chart, values_file("defaults"))
    assert _secret_ref(docs, "Job", MIGRATE_JOB) == {"name": "floodwall-db", "key": "database-url"}
    assert _secret_ref(docs, "Deployment", CONSUMERS) == {"name": "floodwall-db", "key": "database-url"}

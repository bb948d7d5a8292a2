"""The sink database's two roles.

* The **owner** role runs ``floodwall db migrate`` and owns the schema and every table in it (DDL).
* The **runtime** role is what consumers, ``floodwall offsets`` and ``floodwall loadgen`` verification
  connect as. It logs in as its own role and is a member of the NOLOGIN group role
  :data:`RUNTIME_GROUP_ROLE`, which migration ``0002_runtime_role`` grants only the DML the code issues:
  USAGE on the schema; SELECT, INSERT, UPDATE on the sink tables (nothing deletes); SELECT on the
  migration history; no CREATE. Its default privileges extend SELECT, INSERT, UPDATE to tables that later
  migrations (run by the owner) create; a migration that needs more (DELETE) grants it explicitly.

The migrations name the group role, not the login role, so the login role's name is the operator's
choice (docs/deploy.md, "Bring your own database").
"""

from __future__ import annotations

RUNTIME_GROUP_ROLE = "floodwall_runtime"

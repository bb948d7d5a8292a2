"""Create the sink's role and database on the primary (idempotent), as the stack's superuser."""

from __future__ import annotations

import psycopg
from psycopg import sql

from floodwall.errors import StackError
from floodwall.stack.layout import Layout
from floodwall.stack.state import Secrets


def provision_database(layout: Layout, pw: Secrets) -> None:
    """Ensure the login role ``db_user`` (with the stack's app password) and database ``db_name`` exist."""
    s = layout.settings
    role, db = sql.Identifier(s.db_user), sql.Identifier(s.db_name)
    try:
        with psycopg.connect(layout.write_dsn(user="postgres", dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.db_user,)).fetchone()
            verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, sql.Literal(pw.app)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (s.db_name,)).fetchone():
                # CREATE DATABASE cannot run inside a transaction block: hence autocommit.
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
    except psycopg.Error as exc:
        raise StackError(
            f"cannot provision database {s.db_name!r}: {str(exc).strip().splitlines()[0]}"
        ) from None

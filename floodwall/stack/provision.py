"""Create the sink's roles and database on the primary (idempotent), as the stack's superuser.

Two login roles (floodwall/db/roles.py): ``db_owner`` owns the database and runs the migrations,
``db_user`` is the runtime role, a member of the group role that migration 0002 grants DML to.
A state directory from a release with one role (``db_user`` owning everything) is converted: its objects
are handed to ``db_owner`` before the migrations run.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from floodwall.db.roles import RUNTIME_GROUP_ROLE
from floodwall.errors import StackError
from floodwall.stack.layout import Layout
from floodwall.stack.state import Secrets


def provision_database(layout: Layout, pw: Secrets) -> None:
    """Ensure the roles ``db_owner`` and ``db_user`` (with the stack's passwords), the group role the
    runtime role belongs to, and database ``db_name`` owned by ``db_owner`` exist.

    Raises StackError when the primary refuses.
    """
    s = layout.settings
    try:
        with psycopg.connect(layout.write_dsn(user="postgres", dbname="postgres"), autocommit=True) as conn:
            _login_role(conn, s.db_owner, pw.owner)
            _login_role(conn, s.db_user, pw.app)
            if not _exists(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", RUNTIME_GROUP_ROLE):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(RUNTIME_GROUP_ROLE)))
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(RUNTIME_GROUP_ROLE), sql.Identifier(s.db_user)
                )
            )
            db, owner = sql.Identifier(s.db_name), sql.Identifier(s.db_owner)
            if _exists(conn, "SELECT 1 FROM pg_database WHERE datname = %s", s.db_name):
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, owner))
            else:
                # CREATE DATABASE cannot run inside a transaction block: hence autocommit.
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, owner))
        with psycopg.connect(layout.write_dsn(user="postgres"), autocommit=True) as conn:
            # Tables the runtime role created under the one-role layout of older releases.
            conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(s.db_user), sql.Identifier(s.db_owner)
                )
            )
    except psycopg.Error as exc:
        raise StackError(
            f"cannot provision database {s.db_name!r}: {str(exc).strip().splitlines()[0]}"
        ) from None


def _login_role(conn: psycopg.Connection[tuple[object, ...]], name: str, password: str) -> None:
    """Create or update a login role with no privileges beyond logging in (no CREATEDB/CREATEROLE)."""
    verb = (
        sql.SQL("ALTER")
        if _exists(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", name)
        else sql.SQL("CREATE")
    )
    conn.execute(
        sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            verb, sql.Identifier(name), sql.Literal(password)
        )
    )


def _exists(conn: psycopg.Connection[tuple[object, ...]], query: str, value: str) -> bool:
    return conn.execute(query, (value,)).fetchone() is not None

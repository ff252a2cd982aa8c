"""PostgreSQL: the schema of Procrastinate, the job engine of a PostgreSQL deployment

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:30:00

On PostgreSQL, jobs run on Procrastinate (``jobs.procrastinate_queue``): its tables, types,
functions and triggers are created here, from the schema file of the installed package (the
``postgres`` extra pins its major version), so that one ``upgrade`` prepares the whole database.
SQLite keeps the embedded queue (the ``jobs`` table) and has nothing to do here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _run_script(bind: Connection, script: str) -> None:
    """Run a script of many statements (functions with ``$$`` bodies: not splittable)."""
    if bind.dialect.driver == "asyncpg":  # (its prepared statements take one statement)
        from sqlalchemy.util import await_only

        driver = bind.connection.driver_connection
        assert driver is not None
        await_only(driver.execute(script))
    else:
        bind.exec_driver_sql(script.replace("%", "%%"))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
        return  # (installed by hand, or by procrastinate's own command)
    try:
        from procrastinate.schema import SchemaManager
    except ImportError:
        raise RuntimeError(
            "PostgreSQL deployments run their jobs on Procrastinate, which is not installed: "
            "pip install 'scopix-server[postgres]'"
        ) from None
    _run_script(bind, SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _run_script(
        bind,
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t
                JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                  AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END $$;
        """,
    )

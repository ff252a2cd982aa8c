"""Alembic migrations, applied automatically when the server starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5C0_917  # a PostgreSQL advisory lock key of our own


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database schema to the newest revision (no-op when it is current)."""

    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # many processes may start at once (API servers, workers): one migrates, the
            # others wait here and then find the schema current
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        command.upgrade(alembic_config(connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)

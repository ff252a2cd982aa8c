"""Statements whose spelling differs between SQLite and PostgreSQL (both support these forms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert", "is_postgres"]


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: AsyncSession, table: Any) -> sqlite.Insert | postgresql.Insert:
    """An ``INSERT`` that accepts ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    if is_postgres(session):
        return postgresql.insert(table)
    return sqlite.insert(table)

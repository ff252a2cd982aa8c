"""Engine and session factory for SQLite (embedded default) or PostgreSQL, from one URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["create_engine", "create_sessionmaker"]


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, pool_pre_ping=True)
        event.listen(engine.sync_engine, "before_cursor_execute", _without_nul, retval=True)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "before_cursor_execute", _without_nul, retval=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def _without_nul(
    _connection: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """Every string sent to the database loses its NUL characters (U+0000): PostgreSQL cannot
    store them in text, and they come from anywhere (a chat message, a document's text, an
    EXIF field, a search); SQLite gets the same strings, so that both keep the same text."""
    if executemany:
        return statement, [_cleaned(one) for one in parameters]
    return statement, _cleaned(parameters)


def _cleaned(parameters: Any) -> Any:
    values = parameters.values() if isinstance(parameters, dict) else parameters
    if not isinstance(values, (tuple, list)) and not isinstance(parameters, dict):
        return parameters
    if not any(isinstance(v, str) and "\x00" in v for v in values):
        return parameters
    if isinstance(parameters, dict):
        return {k: _no_nul(v) for k, v in parameters.items()}
    return type(parameters)(_no_nul(v) for v in parameters)


def _no_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)

"""The migrations build exactly the tables the models describe (no drift either way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scopix_server.db.migrate import upgrade
from scopix_server.db.models import Base
from scopix_server.db.session import create_engine

pytestmark = pytest.mark.anyio

# made by migrations on purpose and absent from the models: SQLite's full-text indexes
_MIGRATION_ONLY_TABLES = ("files_fts", "chunks_fts")
_MIGRATION_ONLY_COLUMNS = {("files", "search_id"), ("chunks", "search_id")}
_MIGRATION_ONLY_INDEXES = {"ix_files_search_id", "ix_chunks_search_id"}


def _expected(change: Any) -> bool:
    kind = change[0]
    if kind == "remove_table":
        return str(change[1].name).startswith(_MIGRATION_ONLY_TABLES)
    if kind == "remove_column":
        return (change[2], change[3].name) in _MIGRATION_ONLY_COLUMNS
    if kind == "remove_index":  # (the indexes of those columns)
        return str(change[1].name) in _MIGRATION_ONLY_INDEXES
    return False


async def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}")
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            changes = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    drift = [change for change in changes if not _expected(change)]
    assert drift == [], "models and migrations differ: write a migration for each change"

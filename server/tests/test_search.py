"""Lexical search (SQLite FTS5): modes, prefixes, accents, the index kept in step, migration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scopix_server import Settings
from scopix_server.db.migrate import upgrade
from scopix_server.db.models import File
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.search.lexical import fts_query
from scopix_server.services.files import ListQuery, list_files
from scopix_server.services.tenants import get_or_create_tenant


@dataclass
class Library:
    sessions: async_sessionmaker[AsyncSession]
    tenant: str
    other: str

    async def add(self, tenant: str | None = None, **values: Any) -> str:
        async with self.sessions() as session:
            row = File(
                tenant_id=tenant or self.tenant,
                filename=values.pop("filename", "file.png"),
                media_type="image",
                content_type="image/png",
                size_bytes=1,
                content_hash="sha256:x",
                object_key="k",
                **values,
            )
            session.add(row)
            await session.commit()
            return row.id

    async def search(self, text: str, mode: str = "all", tenant: str | None = None) -> set[str]:
        async with self.sessions() as session:
            rows, total = await list_files(
                session, tenant or self.tenant, ListQuery(search=text, search_mode=mode, limit=100)
            )
        assert total == len(rows)
        return {row.id for row in rows}


@pytest.fixture
async def library(tmp_path: Path) -> AsyncIterator[Library]:
    settings = Settings(data_dir=tmp_path)
    engine = create_engine(settings.resolved_database_url)
    await upgrade(engine)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        mine = await get_or_create_tenant(session, "mine", tier=None, default_tier="custom")
        theirs = await get_or_create_tenant(session, "theirs", tier=None, default_tier="custom")
        await session.commit()
    yield Library(sessions, mine.id, theirs.id)
    await engine.dispose()


pytestmark = pytest.mark.anyio


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
async def test_modes_prefixes_and_accents(library: Library) -> None:
    invoice = await library.add(title="Invoice March", visible_text="Total due 120 EUR")
    menu = await library.add(
        filename="menu_board.jpg",
        description="A chalkboard menu.",
        ai_tags=["Café", "chalkboard"],
        visible_text="Kaffee 3,50\nKuchen 4,00",
    )
    assert await library.search("inv") == {invoice}  # a word's start is enough
    assert await library.search("INVOICE", "metadata") == {invoice}
    assert await library.search("invoice", "visible_text") == set()
    assert await library.search("kaffee", "visible_text") == {menu}
    assert await library.search("kaffee", "metadata") == set()
    assert await library.search("cafe") == {menu}  # accents ignored, JSON escapes decoded
    assert await library.search("board") == {menu}  # filename words
    assert await library.search("menu kuchen") == {menu}  # every word, across both fields
    assert await library.search("menu invoice") == set()
    assert await library.search("voice") == set()  # words, not substrings


@pytest.mark.parametrize(
    "text",
    ['"', 'NEAR("a" "b")', "a AND OR", "*", "metadata: x", "a:b", "(", "-x", "^a", "'; DROP"],
)
async def test_search_syntax_is_never_an_error(library: Library, text: str) -> None:
    await library.add(title="plain")
    assert isinstance(await library.search(text), set)


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
async def test_the_index_follows_changes_and_tenants(library: Library) -> None:
    file_id = await library.add(title="draft")
    theirs = await library.add(tenant=library.other, title="draft")
    assert await library.search("draft") == {file_id}
    assert await library.search("draft", tenant=library.other) == {theirs}
    async with library.sessions() as session:
        row = await session.get(File, file_id)
        assert row is not None
        row.title = "final"
        row.description = "Signed contract"
        row.tags = ["legal"]
        await session.commit()
    assert await library.search("draft") == set()
    assert await library.search("final contract legal") == {file_id}
    async with library.sessions() as session:
        await session.execute(sa.delete(File).where(File.id == file_id))
        await session.commit()
        left = await session.scalar(sa.text("SELECT count(*) FROM files_fts"))
    assert left == 1  # the other tenant's file only


def test_queries_quote_every_word() -> None:
    assert fts_query('x" OR "y', "metadata") == 'metadata : ("x"* AND "OR"* AND "y"*)'
    assert fts_query("éte_2", "all") == '{metadata visible_text} : ("éte"* AND "2"*)'
    assert fts_query("%%", "all") is None  # no word: the LIKE search takes it


def test_files_stored_before_the_index_are_found(tmp_path: Path) -> None:
    from alembic import command

    from scopix_server.db.migrate import alembic_config

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        connection.execute(
            sa.text(
                "INSERT INTO tenants (id, name, tier, created_at) VALUES ('t1', 'old', 'custom', "
                "'2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO files (id, tenant_id, filename, tags, ai_tags, media_type, "
                "content_type, size_bytes, content_hash, object_key, status, content_category, "
                "description_status, variant_status, visible_text, created_at, updated_at) VALUES "
                "('f-old', 't1', 'scan.png', '[\"receipt\"]', '[\"caf\\u00e9\"]', 'image', "
                "'image/png', 1, 'sha256:x', 'k', 'completed', 'general', 'completed', "
                "'completed', 'Grand total', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")

        def found(query: str) -> list[str]:
            rows = connection.execute(
                sa.text(
                    "SELECT files.id FROM files JOIN files_fts ON files_fts.rowid = "
                    "files.search_id WHERE files_fts MATCH :q"
                ),
                {"q": query},
            )
            return [row[0] for row in rows]

        assert found("receipt") == found("cafe") == found("grand") == ["f-old"]
        connection.execute(sa.text("UPDATE files SET title = 'renamed' WHERE id = 'f-old'"))
        assert found("renamed") == ["f-old"]  # the triggers work on migrated rows too
    engine.dispose()


async def test_search_and_other_filters_combine(library: Library) -> None:
    tagged = await library.add(title="harbour", tags=["boats"])
    await library.add(title="harbour")
    async with library.sessions() as session:
        rows, total = await list_files(
            session, library.tenant, ListQuery(search="harb", tags=("boats",))
        )
        ids = list(await session.scalars(select(File.id).where(File.title == "harbour")))
    assert [row.id for row in rows] == [tagged] and total == 1 and len(ids) == 2


async def test_a_word_typed_decomposed_or_with_a_dotted_capital_is_found(
    library: Library,
) -> None:
    """A decomposed "café" (e + combining accent, as some keyboards send it) is the stored
    word; "İstanbul" is found as it was stored, whatever the database's rules for lower case."""
    cafe = await library.add(title="Café terrace", visible_text="Crème brûlée 6,50")
    ferry = await library.add(title="İstanbul ferry")
    assert await library.search("cafe\u0301") == {cafe}
    assert await library.search("cre\u0300me", "visible_text") == {cafe}
    assert await library.search("İstanbul") == {ferry}
    assert await library.search("İstanbul ferry") == {ferry}

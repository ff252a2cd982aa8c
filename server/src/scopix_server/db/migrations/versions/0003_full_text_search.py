"""full-text search of files (SQLite FTS5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00

On SQLite, ``files_fts`` indexes two columns per file: ``metadata`` (filename, title,
description, tags, AI tags, key elements) and ``visible_text`` (OCR or document text). Triggers
keep it in step with ``files`` whatever writes the row. ``files.search_id`` is the file's rowid
in the index (a column of its own, because ``VACUUM`` may renumber the rowids of ``files``).

Note for later migrations: ``batch_alter_table("files")`` rebuilds the table on SQLite and
drops these triggers; such a migration must create them again (``create_search_triggers``).

PostgreSQL gets its own index in the scale-out work; until then it searches with ILIKE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _joined(column: str) -> str:
    """The strings of a JSON list column, space-separated (JSON escapes decoded)."""
    return (
        f"coalesce((SELECT group_concat(value, ' ') FROM json_each("
        f"CASE WHEN json_valid(new.{column}) THEN new.{column} ELSE '[]' END)), '')"
    )


METADATA = " || ' ' || ".join(
    [
        "coalesce(new.filename, '')",
        "coalesce(new.title, '')",
        "coalesce(new.description, '')",
        _joined("tags"),
        _joined("ai_tags"),
        _joined("key_elements"),
    ]
)

TRIGGERS = [
    f"""
    CREATE TRIGGER files_search_insert AFTER INSERT ON files BEGIN
        INSERT INTO files_fts (file_id, metadata, visible_text)
        VALUES (new.id, {METADATA}, coalesce(new.visible_text, ''));
        UPDATE files SET search_id = last_insert_rowid() WHERE id = new.id;
    END
    """,
    f"""
    CREATE TRIGGER files_search_update
    AFTER UPDATE OF filename, title, description, tags, ai_tags, key_elements, visible_text
    ON files BEGIN
        UPDATE files_fts SET metadata = {METADATA}, visible_text = coalesce(new.visible_text, '')
        WHERE rowid = new.search_id;
    END
    """,
    """
    CREATE TRIGGER files_search_delete AFTER DELETE ON files BEGIN
        DELETE FROM files_fts WHERE rowid = old.search_id;
    END
    """,
]


def create_search_triggers() -> None:
    for statement in TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.add_column("files", sa.Column("search_id", sa.Integer(), nullable=True))
    op.execute(
        "CREATE VIRTUAL TABLE files_fts USING fts5(file_id UNINDEXED, metadata, visible_text, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    create_search_triggers()
    # index the files stored before this version, under their current rowids
    backfill = METADATA.replace("new.", "files.")
    op.execute(
        "INSERT INTO files_fts (rowid, file_id, metadata, visible_text) "
        f"SELECT files.rowid, files.id, {backfill}, coalesce(files.visible_text, '') FROM files"
    )
    op.execute("UPDATE files SET search_id = rowid")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in ("files_search_insert", "files_search_update", "files_search_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS files_fts")
    op.drop_column("files", "search_id")

"""search by meaning: embeddings, ranked full-text search of chunks (and of files on PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 16:00:00

- ``embeddings``: the vectors of each file (see ``models.Embedding``); on PostgreSQL a pgvector
  column, so the ``vector`` extension must exist (created here when the role may, else a clear
  error that says how).
- ``files``: ``embedding_status``, ``embedding_model``, ``embedding_error`` and
  ``perceptual_hash``. Every live file gets an ``embed`` job, as 0002 queued the pipeline, so
  the files stored before this version are found by meaning too.
- SQLite: ``chunks_fts``, an FTS5 index of document chunks kept by triggers like ``files_fts``
  (``chunks.search_id`` is a chunk's rowid in it).
- PostgreSQL: ``search_vector`` (a generated ``tsvector``) on ``files`` and ``chunks`` with GIN
  indexes, in place of ILIKE.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PGVECTOR_MISSING = (
    "PostgreSQL has no pgvector extension in this database, which search by meaning needs: "
    "install pgvector (e.g. the postgresql-<version>-pgvector package) and run "
    "'CREATE EXTENSION vector;' as a superuser in this database, then start the server again"
)

CHUNK_TRIGGERS = [
    """
    CREATE TRIGGER chunks_search_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (text) VALUES (new.text);
        UPDATE chunks SET search_id = last_insert_rowid()
        WHERE file_id = new.file_id AND "index" = new."index";
    END
    """,
    """
    CREATE TRIGGER chunks_search_update AFTER UPDATE OF text ON chunks BEGIN
        UPDATE chunks_fts SET text = new.text WHERE rowid = new.search_id;
    END
    """,
    """
    CREATE TRIGGER chunks_search_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.search_id;
    END
    """,
]

# what PostgreSQL's lexical search reads: the same fields as SQLite's files_fts
_PG_FILE_TEXT = (
    "coalesce(filename, '') || ' ' || coalesce(title, '') || ' ' || coalesce(description, '') "
    "|| ' ' || coalesce(tags::text, '') || ' ' || coalesce(ai_tags::text, '') || ' ' "
    "|| coalesce(key_elements::text, '')"
)


class _Vector(sa.types.UserDefinedType[object]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "vector"


def _pgvector() -> None:
    bind = op.get_bind()
    present = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    if present.first() is not None:
        return
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if available is None:
        raise RuntimeError(PGVECTOR_MISSING)
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as error:  # not allowed for this role
        raise RuntimeError(f"{PGVECTOR_MISSING} ({error.orig})") from None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _pgvector()
    with op.batch_alter_table("files") as batch:
        batch.add_column(
            sa.Column(
                "embedding_status", sa.String(length=16), nullable=False, server_default="pending"
            )
        )
        batch.add_column(sa.Column("embedding_model", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("embedding_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("perceptual_hash", sa.String(length=16), nullable=True))
    vector: sa.types.TypeEngine[Any] = _Vector() if dialect == "postgresql" else sa.LargeBinary()
    op.create_table(
        "embeddings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "file_id",
            sa.String(length=36),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vector", vector, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_embeddings_file_id", "embeddings", ["file_id"])
    op.create_index("ix_embeddings_model_tenant", "embeddings", ["model", "tenant_id", "id"])
    if dialect == "sqlite":
        op.add_column("chunks", sa.Column("search_id", sa.Integer(), nullable=True))
        op.execute(
            "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
        for statement in CHUNK_TRIGGERS:
            op.execute(statement)
        op.execute("INSERT INTO chunks_fts (rowid, text) SELECT rowid, text FROM chunks")
        op.execute("UPDATE chunks SET search_id = rowid")
        # ranked searches go from the index to the rows: by these ids, not by a scan
        op.execute("CREATE INDEX ix_files_search_id ON files (search_id)")
        op.execute("CREATE INDEX ix_chunks_search_id ON chunks (search_id)")
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE files ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('simple', {_PG_FILE_TEXT})) STORED"
        )
        op.execute(
            "ALTER TABLE files ADD COLUMN text_vector tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple', left(coalesce(visible_text, ''), 100000))) STORED"
        )
        op.execute(
            "ALTER TABLE chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple', text)) STORED"
        )
        op.execute("CREATE INDEX ix_files_search_vector ON files USING gin (search_vector)")
        op.execute("CREATE INDEX ix_files_text_vector ON files USING gin (text_vector)")
        op.execute("CREATE INDEX ix_chunks_search_vector ON chunks USING gin (search_vector)")
    _queue_existing_files()


def _queue_existing_files() -> None:
    """Every live file gets one ``embed`` job, so the files stored before are found too."""
    bind = op.get_bind()
    files = sa.table(
        "files",
        sa.column("id", sa.String),
        sa.column("tenant_id", sa.String),
        sa.column("status", sa.String),
        sa.column("embedding_status", sa.String),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    jobs = sa.table(
        "jobs",
        *(sa.column(name, sa.String) for name in ("id", "tenant_id", "file_id", "kind", "state")),
        sa.column("priority", sa.Integer),
        sa.column("attempts", sa.Integer),
        sa.column("max_attempts", sa.Integer),
        *(
            sa.column(name, sa.DateTime(timezone=True))
            for name in ("run_after", "created_at", "updated_at")
        ),
    )
    # (files still processing get theirs when their pipeline ends)
    done = bind.execute(
        sa.select(files.c.id, files.c.tenant_id).where(
            files.c.status == "completed", files.c.deleted_at.is_(None)
        )
    ).all()
    now = datetime.now(timezone.utc)
    for file_id, tenant_id in done:
        bind.execute(
            jobs.insert().values(
                id=str(uuid.uuid4()), tenant_id=tenant_id, file_id=file_id, kind="embed",
                state="queued", priority=0, attempts=0, max_attempts=3, run_after=now,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    bind.execute(
        files.update()
        .where(files.c.status == "completed", files.c.deleted_at.is_(None))
        .values(embedding_status="queued")
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_files_search_id")
        op.execute("DROP INDEX IF EXISTS ix_chunks_search_id")
        for name in ("chunks_search_insert", "chunks_search_update", "chunks_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS chunks_fts")
        op.drop_column("chunks", "search_id")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_chunks_search_vector")
        op.execute("DROP INDEX IF EXISTS ix_files_text_vector")
        op.execute("DROP INDEX IF EXISTS ix_files_search_vector")
        op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE files DROP COLUMN IF EXISTS text_vector")
        op.execute("ALTER TABLE files DROP COLUMN IF EXISTS search_vector")
    op.execute("DELETE FROM jobs WHERE kind = 'embed'")
    op.drop_index("ix_embeddings_model_tenant", table_name="embeddings")
    op.drop_index("ix_embeddings_file_id", table_name="embeddings")
    op.drop_table("embeddings")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("perceptual_hash")
        batch.drop_column("embedding_error")
        batch.drop_column("embedding_model")
        batch.drop_column("embedding_status")

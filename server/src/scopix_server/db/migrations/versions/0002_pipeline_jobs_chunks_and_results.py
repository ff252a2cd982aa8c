"""pipeline jobs chunks and results

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:31:12.781200
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunks",
        sa.Column("file_id", sa.String(length=36), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("page_numbers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id", "index"),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chunks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("file_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_file_id"), ["file_id"], unique=False)
        batch_op.create_index("ix_jobs_state_run_after", ["state", "run_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("ai_tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("key_elements", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("analysis_level", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("provider_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("variants", sa.JSON(), nullable=True))

    _queue_existing_files()


def _queue_existing_files() -> None:
    """Files stored before the pipeline existed get their job now, so none is left behind."""
    bind = op.get_bind()
    files = sa.table(
        "files",
        sa.column("id", sa.String),
        sa.column("tenant_id", sa.String),
        sa.column("status", sa.String),
        sa.column("description_status", sa.String),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    jobs = sa.table(
        "jobs",
        *(sa.column(name, sa.String) for name in ("id", "tenant_id", "file_id", "kind", "state")),
        sa.column("attempts", sa.Integer),
        sa.column("max_attempts", sa.Integer),
        *(
            sa.column(name, sa.DateTime(timezone=True))
            for name in ("run_after", "created_at", "updated_at")
        ),
    )
    waiting = bind.execute(
        sa.select(files.c.id, files.c.tenant_id).where(
            files.c.status == "processing", files.c.deleted_at.is_(None)
        )
    ).all()
    now = datetime.now(timezone.utc)
    for file_id, tenant_id in waiting:
        bind.execute(
            jobs.insert().values(
                id=str(uuid.uuid4()), tenant_id=tenant_id, file_id=file_id, kind="process",
                state="queued", attempts=0, max_attempts=3, run_after=now, created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
    bind.execute(
        files.update()
        .where(files.c.status == "processing", files.c.description_status == "pending")
        .values(description_status="queued")
    )


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("variants")
        batch_op.drop_column("provider_count")
        batch_op.drop_column("analysis_level")
        batch_op.drop_column("key_elements")
        batch_op.drop_column("ai_tags")
        batch_op.drop_column("text_key")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_tenant_id"))
        batch_op.drop_index("ix_jobs_state_run_after")
        batch_op.drop_index(batch_op.f("ix_jobs_file_id"))

    op.drop_table("jobs")
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunks_tenant_id"))

    op.drop_table("chunks")

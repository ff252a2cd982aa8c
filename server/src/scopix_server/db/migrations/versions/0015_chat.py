"""chat: sessions and their messages; chat questions counted per month

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 00:00:00

A session belongs to a tenant and lists the images and documents pinned to it (JSON lists of
file ids). Messages are ordered by ``position``, unique per session, so that two turns can never
take the same place; ``turn_started_at`` is set by the conditional update that lets one turn
at a time be answered. ``usage_counters.chat_messages`` counts the questions a tenant asked
in the month, against its tier's limit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("usage_counters") as batch:
        batch.add_column(
            sa.Column("chat_messages", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("use_all_images", sa.Boolean(), nullable=False),
        sa.Column("image_ids", sa.JSON(), nullable=False),
        sa.Column("document_ids", sa.JSON(), nullable=False),
        sa.Column("total_messages", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("turn_started_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_chat_sessions_tenant_id", "chat_sessions", ["tenant_id"])
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "session_id", sa.String(36), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _tenant(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column("processing_time_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("image_context", sa.JSON(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
    )  # fmt: skip
    op.create_index("ix_chat_messages_tenant_id", "chat_messages", ["tenant_id"])
    op.create_index(
        "ux_chat_messages_session_position", "chat_messages", ["session_id", "position"],
        unique=True,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
    with op.batch_alter_table("usage_counters") as batch:
        batch.drop_column("chat_messages")

"""api keys: description, scopes and metadata; files: provider errors

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00

The fields the hosted API documents on ``POST /api-keys``: a description, scopes (``read``,
``write``; none means the creator's permissions) and free client metadata.
A file's description providers that failed while others answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("description", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("key_metadata", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("files") as batch:
        batch.add_column(
            sa.Column("provider_errors", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("provider_errors")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("key_metadata")
        batch.drop_column("scopes")
        batch.drop_column("description")

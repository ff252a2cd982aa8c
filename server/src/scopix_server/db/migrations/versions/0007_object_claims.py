"""object claims, idempotency owners

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:00:00

- ``object_claims``: requests about to record a shared (content-addressed) object claim it first,
  so that nothing deletes it under them (see ``services.objects``).
- ``files.object_key`` is indexed: every deletion asks whether a row still uses an object.
- ``idempotency_keys.owner``: the request that holds an in-flight key (see
  ``services.idempotency``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_claims",
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_key"),
    )
    op.create_index("ix_files_object_key", "files", ["object_key"])
    op.add_column("idempotency_keys", sa.Column("owner", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("owner")
    op.drop_index("ix_files_object_key", table_name="files")
    op.drop_table("object_claims")

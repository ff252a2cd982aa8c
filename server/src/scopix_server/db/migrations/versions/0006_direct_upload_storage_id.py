"""direct uploads on S3

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:00:00

The object store's own id of a direct upload (an S3 ``UploadId`` of its multipart upload).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "direct_uploads", sa.Column("storage_upload_id", sa.String(length=1024), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("direct_uploads") as batch:
        batch.drop_column("storage_upload_id")

"""files: what the local vision models saw; tenants: the threshold of "safe"

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:00:00

``vision`` holds the local analyser's findings (ImageNet classes in plain words, face boxes, the
safety score) as JSON; ``safety_score`` repeats the score as a column, so that ``GET
/files?safe=true`` filters in the database, against the tenant's ``safety_threshold`` (0.8:
Yahoo's own guidance is that scores over 0.8 are explicit). Files processed before stay
``NULL``: they are seen again when they are described again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("vision", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("safety_score", sa.Float(), nullable=True))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("safety_threshold", sa.Float(), nullable=False, server_default="0.8")
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("safety_threshold")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("safety_score")
        batch.drop_column("vision")

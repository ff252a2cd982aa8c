"""files: when processing handed the file over to its description

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 00:00:00

A ``process`` job ends by queueing the file's ``describe`` job. A worker that dies after that
commit but before its job is marked done has its job run again, which must not queue a second
description: the hand-over is one conditional update of this column (``NULL`` -> now), and a
process job that finds it set has nothing left to do. Files already past processing get their
``updated_at``; those still processing keep ``NULL``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE files SET handed_over_at = updated_at "
        "WHERE description_status IN ('processing', 'completed', 'failed')"
    )


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("handed_over_at")

"""files: the facts of a decoded image, kept for its description

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 20:00:00

The description is a job of its own now (on the ``descriptions`` queue, apart from decoding):
it describes the stored large variant, with the facts that the decoding found (format, frames,
EXIF date and camera), kept here as JSON. Files processed before have none: their description
decodes the original again, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("image_facts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("image_facts")

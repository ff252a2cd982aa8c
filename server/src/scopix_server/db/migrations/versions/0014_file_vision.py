"""files: what the local vision models saw; tenants: the threshold of "safe"; people and faces

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:00:00

``vision`` holds the local analyser's findings (ImageNet classes in plain words, face boxes, the
safety score) as JSON; ``safety_score`` repeats the score as a column, so that ``GET
/files?safe=true`` filters in the database, against the tenant's ``safety_threshold`` (0.8:
Yahoo's own guidance is that scores over 0.8 are explicit). Files processed before stay
``NULL``: they are seen again when they are described again. With people grouping on, each face
found is a row of ``faces`` (its box and descriptor), in one of the tenant's ``people``.
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

    op.create_table(
        "people",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_people_tenant_id", "people", ["tenant_id"])
    op.create_table(
        "faces",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "file_id", sa.String(36), sa.ForeignKey("files.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.String(36), sa.ForeignKey("people.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("descriptor", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_faces_tenant_id", "faces", ["tenant_id"])
    op.create_index("ix_faces_file_id", "faces", ["file_id"])
    op.create_index("ix_faces_person_id", "faces", ["person_id"])


def downgrade() -> None:
    op.drop_table("faces")
    op.drop_table("people")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("safety_threshold")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("safety_score")
        batch.drop_column("vision")

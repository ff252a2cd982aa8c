"""job priority

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:30:00

Jobs a client waits on (``/images/analyze``) are claimed before the backlog of batch uploads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.drop_index("ix_jobs_state_run_after", table_name="jobs")
    op.create_index("ix_jobs_state_priority_run_after", "jobs", ["state", "priority", "run_after"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_priority_run_after", table_name="jobs")
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])
    op.drop_column("jobs", "priority")

"""Artifacts: named texts stored with a program (a scorer's artifacts, the candidate's output).

Revision ID: 0002_artifacts
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_artifacts"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_artifacts_program_id", "artifacts", ["program_id"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_program_id", table_name="artifacts")
    op.drop_table("artifacts")

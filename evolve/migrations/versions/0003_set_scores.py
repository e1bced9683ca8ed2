"""Per-set scores of every evaluation, and validation results of the training top-k.

Revision ID: 0003_set_scores
Revises: 0002_artifacts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_set_scores"
down_revision = "0002_artifacts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "set_scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("split", sa.Text(), nullable=False),
        sa.Column("set_name", sa.Text(), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("metrics", sa.Text(), nullable=False),
    )
    op.create_index("ix_set_scores_program_id", "set_scores", ["program_id"])
    op.create_table(
        "validations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("eval_seconds", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_validations_program_id", "validations", ["program_id"])
    op.create_index("ix_validations_run_score", "validations", ["run_id", "score"])


def downgrade() -> None:
    op.drop_index("ix_validations_run_score", table_name="validations")
    op.drop_index("ix_validations_program_id", table_name="validations")
    op.drop_table("validations")
    op.drop_index("ix_set_scores_program_id", table_name="set_scores")
    op.drop_table("set_scores")

"""Baseline: the archive schema as it was before versions were recorded.

Written out explicitly (not create_all), so later changes to the models never change what this
revision creates. Tables that already exist are left alone: an archive made before versions
were recorded is stamped by running this revision, which adds only what it lacks (`heldout`
came late).

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

# JSON is stored as text (evolve.archive.JSONText) and labels as unbounded text, on every database
TEXT = sa.Text()


def _tables() -> list[tuple[str, list, list]]:
    """(name, columns, extra constraints and indexes) of every baseline table."""
    return [
        ("runs", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("problem", TEXT, nullable=False),
            sa.Column("folder", TEXT, nullable=True),
            sa.Column("config", TEXT, nullable=False),
            sa.Column("seed", sa.Integer, nullable=False),
            sa.Column("status", TEXT, nullable=False),
            sa.Column("stop_reason", TEXT, nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("wall_seconds", sa.Float, nullable=False),
            sa.Column("state", TEXT, nullable=False),
        ], []),
        ("programs", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
            sa.Column("iteration", sa.Integer, nullable=False),
            sa.Column("island", sa.Integer, nullable=False),
            sa.Column("generation", sa.Integer, nullable=False),
            sa.Column("parent_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=True),
            sa.Column("code", TEXT, nullable=False),
            sa.Column("code_hash", sa.String(64), nullable=True),
            sa.Column("proposer", TEXT, nullable=False),
            sa.Column("operator", TEXT, nullable=True),
            sa.Column("model", TEXT, nullable=True),
            sa.Column("diff", TEXT, nullable=True),
            sa.Column("status", TEXT, nullable=False),
            sa.Column("error", TEXT, nullable=True),
            sa.Column("compile_fallback", TEXT, nullable=True),
            sa.Column("score", sa.Float, nullable=True),
            sa.Column("metrics", TEXT, nullable=False),
            sa.Column("feedback", TEXT, nullable=True),
            sa.Column("behaviour", sa.Float, nullable=True),
            sa.Column("stage", TEXT, nullable=True),
            sa.Column("duplicate_of", sa.Integer, nullable=True),
            sa.Column("improved", sa.Boolean, nullable=False),
            sa.Column("propose_seconds", sa.Float, nullable=False),
            sa.Column("eval_seconds", sa.Float, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("wall_offset", sa.Float, nullable=False),
        ], [
            sa.UniqueConstraint("run_id", "iteration", "island", "proposer",
                                name="uq_program_iteration"),
        ]),
        ("program_parents", [
            sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), primary_key=True),
            sa.Column("parent_id", sa.Integer, sa.ForeignKey("programs.id"), primary_key=True),
            sa.Column("role", TEXT, primary_key=True),
        ], []),
        ("llm_calls", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
            sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=True),
            sa.Column("iteration", sa.Integer, nullable=True),
            sa.Column("model", TEXT, nullable=False),
            sa.Column("mode", TEXT, nullable=True),
            sa.Column("prompt", TEXT, nullable=False),
            sa.Column("reply", TEXT, nullable=True),
            sa.Column("prompt_tokens", sa.Integer, nullable=False),
            sa.Column("completion_tokens", sa.Integer, nullable=False),
            sa.Column("cost_usd", sa.Float, nullable=False),
            sa.Column("latency_s", sa.Float, nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("error", TEXT, nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        ], []),
        ("heldout", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
            sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id"), nullable=False),
            sa.Column("code_hash", sa.String(64), nullable=False),
            sa.Column("split", TEXT, nullable=False),
            sa.Column("problem_hash", sa.String(64), nullable=False),
            sa.Column("result", TEXT, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        ], []),
    ]


INDEXES = [
    ("ix_programs_run_hash", "programs", ["run_id", "code_hash"]),
    ("ix_programs_run_score", "programs", ["run_id", "score"]),
    ("ix_heldout_key", "heldout", ["run_id", "program_id", "split", "problem_hash"]),
]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, extra in _tables():
        if name not in existing:
            op.create_table(name, *columns, *extra)
    for index, table, cols in INDEXES:
        if table not in existing:
            op.create_index(index, table, cols)


def downgrade() -> None:
    for index, table, _cols in reversed(INDEXES):
        op.drop_index(index, table_name=table)
    for name, _columns, _extra in reversed(_tables()):
        op.drop_table(name)

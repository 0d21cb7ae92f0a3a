"""Runs name who runs them, workers say they are alive, and runs are listed across jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("holder", sa.String(64), nullable=True))
    op.create_index("ix_runs_account_submitted", "runs", ["account_id", "submitted_at"])
    op.create_index("ix_runs_submitted", "runs", ["submitted_at"])
    op.create_table(
        "workers",
        sa.Column("holder", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.Float, nullable=False))


def downgrade():
    op.drop_table("workers")
    op.drop_index("ix_runs_submitted", "runs")
    op.drop_index("ix_runs_account_submitted", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("holder")

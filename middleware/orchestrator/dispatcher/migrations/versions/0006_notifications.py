"""Notifications: every delivery of a job's notifications, one row per target.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float, nullable=True))
    op.create_index("ix_notifications_job_created", "notifications", ["job_id", "created_at"])
    op.create_index("ix_notifications_created", "notifications", ["created_at"])


def downgrade():
    op.drop_index("ix_notifications_created", "notifications")
    op.drop_index("ix_notifications_job_created", "notifications")
    op.drop_table("notifications")

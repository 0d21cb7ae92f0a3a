"""The Open Service Broker's instances and bindings.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "broker_instances",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("service_id", sa.String(255), nullable=False),
        sa.Column("plan_id", sa.String(255), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=True),
        sa.Column("origin_platform", sa.String(64), nullable=True),
        sa.Column("origin_identity", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False))
    op.create_table(
        "broker_bindings",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("instance_id", sa.String(255), sa.ForeignKey("broker_instances.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("origin_platform", sa.String(64), nullable=True),
        sa.Column("origin_identity", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False))
    op.create_index("ix_broker_bindings_instance_id", "broker_bindings", ["instance_id"])


def downgrade():
    op.drop_index("ix_broker_bindings_instance_id", table_name="broker_bindings")
    op.drop_table("broker_bindings")
    op.drop_table("broker_instances")

"""The Dummy cloud's nodes live in the store, shared by every worker and host.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dummy_nodes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cloud", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ready_at", sa.Float, nullable=True),
        sa.Column("size", sa.String(64), nullable=True),
        sa.Column("image", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True)
    op.create_index("ix_dummy_nodes_cloud", "dummy_nodes", ["cloud"])
    op.create_table(
        "dummy_clouds",
        sa.Column("cloud", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False))


def downgrade():
    op.drop_table("dummy_clouds")
    op.drop_table("dummy_nodes")

"""Accounts carry defaults (notify, disable_after) for the jobs that do not say their own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("defaults", sa.Text, nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("defaults")

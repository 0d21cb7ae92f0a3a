"""Jobs carry options (retry, timeout, notify, disable_after), count their consecutive failures
and claimed runs, and say why they were paused; runs keep the options they ran with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("options", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("paused_reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("run_count", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("options", sa.Text, nullable=True))


def downgrade():
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("options")
    with op.batch_alter_table("jobs") as batch:
        for column in ("run_count", "paused_reason", "failures", "options"):
            batch.drop_column(column)

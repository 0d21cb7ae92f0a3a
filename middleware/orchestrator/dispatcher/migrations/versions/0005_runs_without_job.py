"""A run may belong to no job: nodes created asynchronously through the API.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("job_id", existing_type=sa.String(32), nullable=True)


def downgrade():
    op.execute("DELETE FROM run_events WHERE run_id IN (SELECT id FROM runs WHERE job_id IS NULL)")
    op.execute("DELETE FROM runs WHERE job_id IS NULL")
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("job_id", existing_type=sa.String(32), nullable=False)

"""evidence: each archive file's SHA-256 on its segment, each fill run's masked source

Revision ID: 0008_evidence
Revises: 0007_jobs_in_worker
Create Date: 2026-12-02 14:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_evidence"
down_revision = "0007_jobs_in_worker"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("fill_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("fill_runs", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("sha256")

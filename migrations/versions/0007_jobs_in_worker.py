"""bulk jobs claimed by the worker: lease, filter parameters, one active job per filter

Revision ID: 0007_jobs_in_worker
Revises: 0006_fleet
Create Date: 2026-12-02 14:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_jobs_in_worker"
down_revision = "0006_fleet"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("active_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_active_key"), ["active_key"], unique=True)
    # Jobs of the web-process threads died with the web app: end them (the request again resumes).
    op.execute(
        "UPDATE jobs SET state = 'failed', error = 'stopped by the upgrade to worker jobs'"
        " WHERE state IN ('queued', 'running')"
    )


def downgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_active_key"))
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("active_key")
        batch_op.drop_column("params")

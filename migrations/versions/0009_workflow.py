"""operator workflow: a worker that stopped cleanly says so

Revision ID: 0009_workflow
Revises: 0008_evidence
Create Date: 2026-12-02 15:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_workflow"
down_revision = "0008_evidence"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.add_column(sa.Column("stopped_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.drop_column("stopped_at")

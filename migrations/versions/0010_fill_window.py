"""per-camera fill schedule: when automatic fills may start, in camera local time

Revision ID: 0010_fill_window
Revises: 0009_workflow
Create Date: 2026-12-03 06:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_fill_window"
down_revision = "0009_workflow"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("fill_window", sa.String(length=11), nullable=True))


def downgrade():
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("fill_window")

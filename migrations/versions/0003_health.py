"""recording health on cameras, webhook outbox

Revision ID: 0003_health
Revises: 0002_real_cameras
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_health"
down_revision = "0002_real_cameras"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("last_segment_end", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("recording_status", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("recording_status_at", sa.DateTime(), nullable=True))
    # Existing footage: the newest segment of each camera, once.
    op.execute(
        "UPDATE cameras SET last_segment_end = "
        "(SELECT max(end_time) FROM segments WHERE segments.camera_id = cameras.id)"
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=2000), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_outbox_due",
        "webhook_outbox",
        ["receiver", "state", "next_attempt_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_webhook_outbox_due", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("recording_status_at")
        batch.drop_column("recording_status")
        batch.drop_column("last_segment_end")

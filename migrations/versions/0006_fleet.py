"""fleet operations: claim order, who asked and who stopped, fill history, fleet order

Revision ID: 0006_fleet
Revises: 0005_security
Create Date: 2026-11-25 16:40:00

"""
import os

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_fleet"
down_revision = "0005_security"
branch_labels = None
depends_on = None

# The fleet attention of a camera from its statistics (the same rule as webapp/gapstate.py).
ATTENTION_SQL = (
    "UPDATE cameras SET attention = CASE"
    " WHEN EXISTS (SELECT 1 FROM camera_gap_stats s WHERE s.camera_id = cameras.id"
    "  AND s.fill_state = 'failed' AND s.gap_count > s.stopped_count) THEN 4"
    " WHEN EXISTS (SELECT 1 FROM camera_gap_stats s WHERE s.camera_id = cameras.id"
    "  AND s.fill_state = 'partial' AND s.gap_count > s.stopped_count) THEN 3"
    " WHEN EXISTS (SELECT 1 FROM camera_gap_stats s WHERE s.camera_id = cameras.id"
    "  AND s.fill_state = 'expired' AND s.gap_count > s.stopped_count) THEN 2"
    " ELSE 0 END"
)


def upgrade():
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attention", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_cameras_fleet_order", ["attention", "newest_gap_start", "id"], unique=False
        )
        batch_op.create_index("ix_cameras_site", ["site"], unique=False)
    with op.batch_alter_table("camera_gap_stats", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stopped_count", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("recording_gaps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("stopped_by", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_recording_gaps_claim",
            ["fill_state", "manual_retry", "queue_at", "id"],
            unique=False,
        )
    with op.batch_alter_table("fill_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("method", sa.String(length=16), server_default="replay", nullable=False)
        )
        batch_op.add_column(sa.Column("bytes_written", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_fill_runs_ended", ["ended_at"], unique=False)
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("concurrency", sa.Integer(), server_default="0", nullable=False)
        )

    # Claim keys of the gaps already there: manual requests by when they were made, automatic
    # gaps by when the card overwrites them (the camera's retention, else the global setting).
    hours = float(os.environ.get("ANR_MAX_GAP_HOURS") or 72)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        deadline = (
            "g.gap_start + make_interval(secs => 3600 * COALESCE(c.anr_max_gap_hours, :hours))"
        )
        bind.execute(
            sa.text(
                f"UPDATE recording_gaps g SET queue_at = {deadline} FROM cameras c"
                " WHERE c.id = g.camera_id AND NOT g.manual_retry"
            ),
            {"hours": hours},
        )
    else:
        bind.execute(
            sa.text(
                "UPDATE recording_gaps SET queue_at = strftime('%Y-%m-%d %H:%M:%S', gap_start,"
                " '+' || CAST(3600 * COALESCE((SELECT anr_max_gap_hours FROM cameras"
                " WHERE cameras.id = recording_gaps.camera_id), :hours) AS INTEGER) || ' seconds')"
                " || '.000000' WHERE NOT manual_retry"
            ),
            {"hours": hours},
        )
    bind.execute(
        sa.text(
            "UPDATE recording_gaps SET queue_at = COALESCE(last_attempt_at, created_at)"
            " WHERE manual_retry"
        )
    )
    bind.execute(sa.text(ATTENTION_SQL))


def downgrade():
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.drop_column("concurrency")
    with op.batch_alter_table("fill_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_fill_runs_ended")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("error")
        batch_op.drop_column("bytes_written")
        batch_op.drop_column("method")
    with op.batch_alter_table("recording_gaps", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_gaps_claim")
        batch_op.drop_column("stopped_by")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("queue_at")
    with op.batch_alter_table("camera_gap_stats", schema=None) as batch_op:
        batch_op.drop_column("stopped_count")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index("ix_cameras_site")
        batch_op.drop_index("ix_cameras_fleet_order")
        batch_op.drop_column("attention")

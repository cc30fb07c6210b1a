"""fleet and queue at 100,000 cameras: indexes for the fleet's counts, sites and the queue's

Revision ID: 0011_fleet_scale
Revises: 0010_fill_window
Create Date: 2026-12-03 11:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_fleet_scale"
down_revision = "0010_fill_window"
branch_labels = None
depends_on = None


def upgrade():
    # fleet_summary: the quiet cameras (enabled, footage stale or none) by attention.
    op.create_index("ix_cameras_recording", "cameras", ["attention", "enabled", "last_segment_end"])
    # The queue page's fill schedules: cameras with their own window.
    op.create_index("ix_cameras_fill_window", "cameras", ["fill_window"])
    # The queue's pending counts: one state's statistics rows, covered.
    op.create_index(
        "ix_camera_gap_stats_state", "camera_gap_stats", ["fill_state", "camera_id", "gap_count"]
    )


def downgrade():
    op.drop_index("ix_camera_gap_stats_state", table_name="camera_gap_stats")
    op.drop_index("ix_cameras_fill_window", table_name="cameras")
    op.drop_index("ix_cameras_recording", table_name="cameras")

"""fleet and queue at 100,000 cameras: fleet counts kept by triggers, indexes for the queue's

Revision ID: 0011_fleet_scale
Revises: 0010_fill_window
Create Date: 2026-12-03 11:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

# revision identifiers, used by Alembic.
revision = "0011_fleet_scale"
down_revision = "0010_fill_window"
branch_labels = None
depends_on = None


# The triggers of webapp/models/fleet_stats.py as they were at this revision (frozen here).
_TERMS = {
    "cameras": "1",
    "flagged": "CASE WHEN {r}.attention >= 1 THEN 1 ELSE 0 END",
    "never": "CASE WHEN {r}.enabled AND {r}.last_segment_end IS NULL THEN 1 ELSE 0 END",
    "never_flagged": (
        "CASE WHEN {r}.enabled AND {r}.last_segment_end IS NULL AND {r}.attention >= 1"
        " THEN 1 ELSE 0 END"
    ),
}


def _remove(r):
    sets = ", ".join(f"{c} = {c} - {t.format(r=r)}" for c, t in _TERMS.items())
    return f"UPDATE fleet_site_stats SET {sets} WHERE site = {r}.site"


def _add(r, alias="fleet_site_stats"):
    values = ", ".join(t.format(r=r) for t in _TERMS.values())
    sets = ", ".join(f"{c} = {alias}.{c} + excluded.{c}" for c in _TERMS)
    return (
        f"INSERT INTO fleet_site_stats {'AS s ' if alias == 's' else ''}"
        f"(site, {', '.join(_TERMS)}) VALUES ({r}.site, {values})"
        f" ON CONFLICT (site) DO UPDATE SET {sets}"
    )


def _changed(old, new, differ):
    terms = [f"{old}.site {differ} {new}.site"] + [
        f"({t.format(r=old)}) {differ} ({t.format(r=new)})" for t in list(_TERMS.values())[1:]
    ]
    return " OR ".join(terms)


_WATCHED = "site, attention, enabled, last_segment_end"
_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_insert AFTER INSERT ON cameras"
    f" BEGIN {_add('NEW')}; END",
    "CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_delete AFTER DELETE ON cameras"
    f" BEGIN {_remove('OLD')}; END",
    f"CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_update AFTER UPDATE OF {_WATCHED}"
    f" ON cameras WHEN {_changed('OLD', 'NEW', '<>')}"
    f" BEGIN {_remove('OLD')}; {_add('NEW')}; END",
)
_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION cameras_fleet_stats() RETURNS trigger AS $$ BEGIN"
    f" IF TG_OP IN ('UPDATE', 'DELETE') THEN {_remove('OLD')}; END IF;"
    f" IF TG_OP IN ('UPDATE', 'INSERT') THEN {_add('NEW', 's')}; END IF;"
    " RETURN NULL; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS cameras_fleet_stats_insert ON cameras",
    "CREATE TRIGGER cameras_fleet_stats_insert AFTER INSERT OR DELETE ON cameras"
    " FOR EACH ROW EXECUTE FUNCTION cameras_fleet_stats()",
    "DROP TRIGGER IF EXISTS cameras_fleet_stats_update ON cameras",
    f"CREATE TRIGGER cameras_fleet_stats_update AFTER UPDATE OF {_WATCHED} ON cameras"
    f" FOR EACH ROW WHEN ({_changed('OLD', 'NEW', 'IS DISTINCT FROM')})"
    " EXECUTE FUNCTION cameras_fleet_stats()",
)


def upgrade():
    op.create_table(
        "fleet_site_stats",
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("cameras", sa.Integer(), server_default="0", nullable=False),
        sa.Column("flagged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("never", sa.Integer(), server_default="0", nullable=False),
        sa.Column("never_flagged", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )
    sums = ", ".join(f"SUM({t.format(r='cameras')})" for t in _TERMS.values())
    op.execute(
        text(
            f"INSERT INTO fleet_site_stats (site, {', '.join(_TERMS)})"
            f" SELECT site, {sums} FROM cameras GROUP BY site"
        )
    )
    for statement in _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(text(statement))
    # fleet_summary: the cameras whose footage stopped, their attention covered.
    op.create_index("ix_cameras_recording", "cameras", ["enabled", "last_segment_end", "attention"])
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cameras_fleet_stats_update ON cameras")
        op.execute("DROP TRIGGER IF EXISTS cameras_fleet_stats_insert ON cameras")
        op.execute("DROP FUNCTION IF EXISTS cameras_fleet_stats()")
    else:
        for name in ("update", "delete", "insert"):
            op.execute(f"DROP TRIGGER IF EXISTS cameras_fleet_stats_{name}")
    op.drop_table("fleet_site_stats")

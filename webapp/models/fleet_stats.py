"""The fleet's counts by site, kept by the database itself (triggers on ``cameras``).

``fleet_summary`` shows how many cameras there are, how many need attention and how many are not
recording; at 100,000 cameras counting them row by row costs more than the page. These counts are
kept per site by triggers on every insert, delete and relevant update of ``cameras``, so every
writer (the ORM, the gap service's ``_ATTENTION_SQL``, the health check, segment writes, bulk
loads) keeps them right without knowing about them:

- ``cameras``: cameras of the site;
- ``flagged``: of them, ``attention >= 1`` (gap trouble, or stale as of the last health check);
- ``never``: enabled cameras that never recorded (``last_segment_end`` NULL);
- ``never_flagged``: of ``never``, those also flagged.

Footage that goes stale is a matter of the clock, not of a write: ``fleet_summary`` adds those
cameras at read time from a range of ``ix_cameras_recording`` (enabled, last_segment_end), which
holds only the cameras whose footage stopped. SQLite's batch migrations recreate a table and drop
its triggers: a migration that rebuilds ``cameras`` must create them again (``create_triggers``);
tests/test_migrations_and_postgres.py checks they exist after ``upgrade``.
"""

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model

# Per-row contributions of a camera row (``R`` is NEW or OLD), as integers on both databases.
_TERMS = {
    "cameras": "1",
    "flagged": "CASE WHEN {r}.attention >= 1 THEN 1 ELSE 0 END",
    "never": "CASE WHEN {r}.enabled AND {r}.last_segment_end IS NULL THEN 1 ELSE 0 END",
    "never_flagged": (
        "CASE WHEN {r}.enabled AND {r}.last_segment_end IS NULL AND {r}.attention >= 1"
        " THEN 1 ELSE 0 END"
    ),
}
COUNTS = tuple(_TERMS)


class FleetSiteStat(Model):
    """One site's camera counts (see the module's docstring); kept by triggers, never by code."""

    __tablename__ = "fleet_site_stats"

    site: Mapped[str] = mapped_column(String(200), primary_key=True)
    cameras: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    flagged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    never: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    never_flagged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def _remove(r: str) -> str:
    sets = ", ".join(f"{c} = {c} - {t.format(r=r)}" for c, t in _TERMS.items())
    return f"UPDATE fleet_site_stats SET {sets} WHERE site = {r}.site"


def _add(r: str, alias: str = "fleet_site_stats") -> str:
    values = ", ".join(t.format(r=r) for t in _TERMS.values())
    sets = ", ".join(f"{c} = {alias}.{c} + excluded.{c}" for c in COUNTS)
    return (
        f"INSERT INTO fleet_site_stats {'AS s ' if alias == 's' else ''}"
        f"(site, {', '.join(COUNTS)}) VALUES ({r}.site, {values})"
        f" ON CONFLICT (site) DO UPDATE SET {sets}"
    )


def _changed(old: str, new: str, differ: str) -> str:
    """The WHEN of the update trigger: the site or one of the row's contributions changed."""
    terms = [f"{old}.site {differ} {new}.site"] + [
        f"({t.format(r=old)}) {differ} ({t.format(r=new)})" for t in list(_TERMS.values())[1:]
    ]
    return " OR ".join(terms)


WATCHED = "site, attention, enabled, last_segment_end"

SQLITE_DDL = (
    "CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_insert AFTER INSERT ON cameras"
    f" BEGIN {_add('NEW')}; END",
    "CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_delete AFTER DELETE ON cameras"
    f" BEGIN {_remove('OLD')}; END",
    f"CREATE TRIGGER IF NOT EXISTS cameras_fleet_stats_update AFTER UPDATE OF {WATCHED}"
    f" ON cameras WHEN {_changed('OLD', 'NEW', '<>')}"
    f" BEGIN {_remove('OLD')}; {_add('NEW')}; END",
)

POSTGRESQL_DDL = (
    "CREATE OR REPLACE FUNCTION cameras_fleet_stats() RETURNS trigger AS $$ BEGIN"
    f" IF TG_OP IN ('UPDATE', 'DELETE') THEN {_remove('OLD')}; END IF;"
    f" IF TG_OP IN ('UPDATE', 'INSERT') THEN {_add('NEW', 's')}; END IF;"
    " RETURN NULL; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS cameras_fleet_stats_insert ON cameras",
    "CREATE TRIGGER cameras_fleet_stats_insert AFTER INSERT OR DELETE ON cameras"
    " FOR EACH ROW EXECUTE FUNCTION cameras_fleet_stats()",
    "DROP TRIGGER IF EXISTS cameras_fleet_stats_update ON cameras",
    f"CREATE TRIGGER cameras_fleet_stats_update AFTER UPDATE OF {WATCHED} ON cameras"
    f" FOR EACH ROW WHEN ({_changed('OLD', 'NEW', 'IS DISTINCT FROM')})"
    " EXECUTE FUNCTION cameras_fleet_stats()",
)

TRIGGERS = ("cameras_fleet_stats_insert", "cameras_fleet_stats_update")


def create_triggers(conn) -> None:
    """Create (or replace) the triggers keeping ``fleet_site_stats`` on this connection."""
    ddl = POSTGRESQL_DDL if conn.dialect.name == "postgresql" else SQLITE_DDL
    for statement in ddl:
        conn.execute(text(statement))


def recount(conn) -> None:
    """Rebuild ``fleet_site_stats`` from the cameras (a migration, or a repair)."""
    sums = ", ".join(f"SUM({t.format(r='cameras')})" for t in _TERMS.values())
    conn.execute(text("DELETE FROM fleet_site_stats"))
    conn.execute(
        text(
            f"INSERT INTO fleet_site_stats (site, {', '.join(COUNTS)})"
            f" SELECT site, {sums} FROM cameras GROUP BY site"
        )
    )


@event.listens_for(Model.metadata, "after_create")
def _after_create(target, connection, **kw) -> None:
    """``create_all`` builds the triggers with the tables (idempotent: it may run again).

    A ``fleet_site_stats`` created beside cameras that already have rows is counted at once.
    """
    tables = {t.name for t in kw.get("tables") or target.sorted_tables}
    if "cameras" in tables or "fleet_site_stats" in tables:
        create_triggers(connection)
    if "fleet_site_stats" in tables:
        recount(connection)

"""Column types shared by the models."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import String
from sqlalchemy import TypeDecorator
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (a callable default, never a value computed at import)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A UTC timestamp: stored naive-UTC on every database, always returned timezone-aware.

    SQLite keeps no zone; storing naive UTC everywhere makes SQLite and PostgreSQL compare and
    index the same way.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def rfc3339(value: datetime | None) -> str | None:
    """Format a UTC timestamp as RFC 3339 with ``Z`` (``2026-06-13T12:00:00Z``).

    Microseconds appear only when present. isoformat, not strftime: this runs for every time on
    every page and JSON answer.
    """
    if value is None:
        return None
    # An aware UTC time's isoformat ends in "+00:00": cut it, no datetime.replace (slow).
    return value.astimezone(UTC).isoformat()[:-6] + "Z"


class rfc3339_text(FunctionElement):
    """SQL that formats a stored UTC time as ``rfc3339`` does, so hot lists skip Python.

    Same text as ``rfc3339()``: seconds always, microseconds only when not zero, ``Z``; NULL
    stays NULL. Compiled for SQLite (text storage) and PostgreSQL (timestamp).
    """

    type = String()
    inherit_cache = True


@compiles(rfc3339_text, "sqlite")
def _rfc3339_sqlite(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return (
        f"(replace(substr({col}, 1, 19), ' ', 'T') || CASE WHEN substr({col}, 21) IN ('', "
        f"'000000') THEN '' ELSE '.' || substr({col}, 21) END || 'Z')"
    )


@compiles(rfc3339_text, "postgresql")
def _rfc3339_postgresql(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    return (
        f"(to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"CAST(date_part('microseconds', {col}) AS integer) %% 1000000 = 0 THEN '' "
        f"ELSE '.' || to_char({col}, 'US') END || 'Z')"
    )

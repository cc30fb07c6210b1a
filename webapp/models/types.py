"""Column types shared by the models."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import TypeDecorator


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
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"

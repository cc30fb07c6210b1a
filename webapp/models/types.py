"""Column types shared by the models."""

from datetime import UTC
from datetime import datetime
from typing import overload

from sqlalchemy import DateTime
from sqlalchemy import TypeDecorator

from ..domain.times import stored_time  # a stdlib-only leaf: no cycle


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

    def result_processor(self, dialect, coltype):
        generic = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return generic

        def process(value):
            # SQLite's text straight to an aware time: the generic path parses, then calls
            # datetime.replace, which costs several times the parse (every time on every page).
            try:
                return stored_time(value)
            except (TypeError, ValueError, AttributeError):  # not the text this type writes
                return generic(value)

        return process


@overload
def rfc3339(value: datetime) -> str: ...
@overload
def rfc3339(value: None) -> None: ...
@overload
def rfc3339(value: datetime | None) -> str | None: ...


def rfc3339(value: datetime | None) -> str | None:
    """Format a UTC timestamp as RFC 3339 with ``Z`` (``2026-06-13T12:00:00Z``).

    Microseconds appear only when present. isoformat, not strftime: this runs for every time on
    every page and JSON answer.
    """
    if value is None:
        return None
    # An aware UTC time's isoformat ends in "+00:00": cut it, no datetime.replace (slow).
    return value.astimezone(UTC).isoformat()[:-6] + "Z"


def stored_rfc3339(value) -> str | None:
    """``rfc3339`` of a raw stored time, for hot lists that skip per-value type processing.

    SQLite hands back its text ('YYYY-MM-DD HH:MM:SS.ffffff'), PostgreSQL a naive UTC datetime;
    the result is the same text ``rfc3339()`` gives (microseconds only when not zero). Two
    ``str.replace`` calls cost less than slicing the text, and much less than having SQLite
    format it (measured: the JSON list formats 2,500 of these).
    """
    if value is None:
        return None
    if value.__class__ is str:
        return value.replace(" ", "T").replace(".000000", "") + "Z"
    return value.isoformat() + "Z"

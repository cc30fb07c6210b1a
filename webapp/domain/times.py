"""Time parsing shared by the API, the pages and the audit filters; time zones by name."""

from datetime import UTC
from datetime import datetime
from typing import overload
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

# Times outside these bounds are refused, so window arithmetic (+/- days) never overflows.
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def parse_time(raw, naive_zone=UTC) -> datetime | None:
    """Parse an RFC 3339 / ISO 8601 time as UTC; None when unparsable or out of range.

    A time without an offset is read in ``naive_zone`` (UTC for the API; the camera's zone for
    the page's window form).
    """
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=naive_zone)
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value if _EARLIEST <= value <= _LATEST else None


@overload
def stored_time(value: None) -> None: ...
@overload
def stored_time(value: str | datetime) -> datetime: ...


def stored_time(value: str | datetime | None) -> datetime | None:
    """A stored UTC time given as driver text (SQLite) or a naive datetime, made aware.

    For hot lists: ``datetime.fromisoformat`` is several times cheaper than the generic
    SQLite DateTime result processor.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # Parsing an offset is several times cheaper than datetime.replace(tzinfo=...).
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text that carries its own offset (not written by this app)
            value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def zone(name: str | None):
    """The IANA zone ``name``, or UTC when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC

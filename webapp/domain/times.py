"""The one place times are read from text: a person's or client's input (``parse_time``), the
project's own stored text (``stored_time``, the fast one for hot lists), a clock time of day;
time zones by name."""

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
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


def parse_time_of_day(raw: str) -> time | None:
    """``"22:00"`` (or ``"22:00:30"``) as a wall-clock time; None when unreadable."""
    try:
        return time.fromisoformat(raw.strip())
    except (ValueError, AttributeError):
        return None


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
            if value.tzinfo is not None:
                return value.astimezone(UTC)
    return value.replace(tzinfo=UTC)


def skipped_local_time(raw, naive_zone) -> str | None:
    """Why a local time without an offset does not exist in ``naive_zone``, or None if it does.

    When the clocks go forward (daylight saving time begins) a stretch of wall-clock times never
    happens: 02:30 on that night is no moment at all, and reading it silently as another one
    would retrieve the wrong footage.
    """
    if not isinstance(raw, str) or naive_zone is UTC:
        return None
    try:
        naive = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return None
    early = naive.replace(tzinfo=naive_zone, fold=0)
    late = naive.replace(tzinfo=naive_zone, fold=1)
    shift = (late.utcoffset() or timedelta()) - (early.utcoffset() or timedelta())
    if shift <= timedelta() or early.astimezone(UTC).astimezone(naive_zone).replace(
        tzinfo=None
    ) == naive.replace(fold=0):
        return None  # an ordinary time, or one the clocks go through twice (it exists)
    minutes = int(shift.total_seconds() // 60)
    hours = f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    amount = hours if minutes % 60 == 0 else f"{minutes} minutes"
    after = (naive + shift).strftime("%H:%M")
    return (
        f"{naive:%Y-%m-%d %H:%M} does not exist in {naive_zone}: the clocks went forward "
        f"{amount} that night (daylight saving time began) and skipped {naive:%H:%M}; choose "
        f"a time before or after the change, such as {after}"
    )


def wall_clock_seconds(start: datetime, end: datetime, in_zone) -> float:
    """The length of [start, end) as the zone's clocks show it (calendar days across a change)."""
    local_start = start.astimezone(in_zone).replace(tzinfo=None)
    local_end = end.astimezone(in_zone).replace(tzinfo=None)
    return (local_end - local_start).total_seconds()


def zone(name: str | None):
    """The IANA zone ``name``, or UTC when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC

"""Keyset paging shared by the gap list and the audit log: limits and opaque cursors."""

import base64
import binascii
from datetime import datetime

from ..models import rfc3339
from .errors import BadParameter
from .times import parse_time

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    """Validate ``limit``: an integer, clamped to 1..5000; anything else is a 400."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadParameter(f"limit must be an integer, got '{raw[:40]}'", "invalid_limit") from None
    return max(1, min(MAX_LIMIT, value))


def encode_cursor(gap_start: datetime, gap_id: str) -> str:
    """The opaque keyset cursor of a row: its (gap_start, id)."""
    raw = f"{rfc3339(gap_start)}|{gap_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str | None) -> tuple[datetime, str] | None:
    """Read a cursor made by ``encode_cursor``; a damaged one is a 400."""
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        stamp, _, gap_id = text.partition("|")
        when = parse_time(stamp)
        if when is None or not gap_id:
            raise ValueError
        return when, gap_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParameter("before is not a cursor this server issued", "invalid_cursor") from None

"""Keyset paging: limits and the one opaque cursor codec (gap lists, audit log, fleet, queue)."""

import base64
import binascii
import re
from datetime import UTC
from datetime import datetime
from types import UnionType
from typing import Any
from typing import get_args
from urllib.parse import quote
from urllib.parse import unquote

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


# A cursor is the url-safe base64 (unpadded) of its fields joined by "|": a time as RFC 3339,
# an int in decimal, text percent-escaped (so "|" inside an id cannot split it), None as nothing.
_SEP = "|"
CURSOR_REFUSED = (
    "before is not a cursor this server issued (it may be damaged, or older than the server); "
    "open the first page again without before"
)


# What quote(text, safe="") leaves as it is (ids, states): such text is used as it is.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
# Standard base64 to its url-safe alphabet, as base64.urlsafe_b64encode translates it.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(*fields: datetime | str | int | None) -> str:
    """The opaque keyset cursor of a row's sort key: ``fields`` in order (time, text or int).

    A page encodes one a timeline mark (a hundred or more): the common cases (a UTC time, plain
    text) skip the general conversions, and the output is the same.
    """
    parts = []
    for value in fields:
        if value is None:
            parts.append("")
        elif isinstance(value, datetime):
            if value.tzinfo is UTC:  # rfc3339 without its conversion: "...+00:00" -> "...Z"
                parts.append(value.isoformat()[:-6] + "Z")
            else:
                parts.append(rfc3339(value))
        elif isinstance(value, bool | int):
            parts.append(str(int(value)))
        else:
            parts.append(value if _PLAIN(value) else quote(value, safe=""))
    raw = binascii.b2a_base64(_SEP.join(parts).encode(), newline=False)
    return raw.translate(_URLSAFE).decode().rstrip("=")


def decode_cursor(raw: str | None, *types: Any) -> tuple[Any, ...] | None:
    """Read ``encode_cursor(*fields)`` back as ``types`` (``datetime``, ``str``, ``int``, or one
    of them ``| None``); None without a cursor; a damaged or foreign one is a 400."""
    if not raw:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        parts = text.split(_SEP)
        if len(parts) != len(types):
            raise ValueError
        return tuple(_field(part, kind) for part, kind in zip(parts, types, strict=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParameter(CURSOR_REFUSED, "invalid_cursor") from None


def _field(text: str, kind: Any) -> datetime | str | int | None:
    """One cursor field as ``kind``; ValueError when it is not one."""
    if isinstance(kind, UnionType) and type(None) in get_args(kind):
        if text == "":
            return None
        (kind,) = (k for k in get_args(kind) if k is not type(None))
    if kind is datetime:
        when = parse_time(text)
        if when is None:
            raise ValueError
        return when
    if kind is int:
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            raise ValueError
        return int(text)
    value = unquote(text, errors="strict")
    if not value:
        raise ValueError
    return value

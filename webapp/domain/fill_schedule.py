"""When automatic fills may start: a camera's own ``fill_window``, else ``ANR_FILL_WINDOW``.

The one place for the rule. A window is ``"HH:MM-HH:MM"`` in the camera's local time; it may
cross midnight (``22:00-06:00``). Empty means any time. Operators' requests (Retry, a chosen
window) ignore it and start at once; the claim (webapp/anr/claims.py) applies it to automatic gaps.
"""

import logging
import re
from datetime import datetime
from datetime import time
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

Window = tuple[time, time]
_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
FORMAT_HELP = "use HH:MM-HH:MM in camera time, e.g. 22:00-06:00 (may cross midnight)"


def read_fill_window(raw: str | None) -> Window | None:
    """``"22:00-06:00"`` as (start, end); None for empty. ValueError says what is wrong."""
    text = (raw or "").strip()
    if not text:
        return None
    match = _WINDOW_RE.fullmatch(text)
    if match is None:
        raise ValueError(FORMAT_HELP)
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"hours 00-23 and minutes 00-59; {FORMAT_HELP}")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ValueError("start and end are the same time; leave it empty to fill at any time")
    return start, end


def format_fill_window(window: Window | None) -> str:
    """The window as it is stored and shown (``22:00-06:00``); empty for any time."""
    if window is None:
        return ""
    return f"{window[0]:%H:%M}-{window[1]:%H:%M}"


def parse_fill_window(raw: str | None) -> Window | None:
    """A stored or configured window; an unreadable one is logged and does not limit fills."""
    try:
        return read_fill_window(raw)
    except ValueError as exc:
        log.error("fill window %r is unreadable (%s); automatic fills are not limited", raw, exc)
        return None


def effective_window(own: str | None, default: Window | None) -> Window | None:
    """The camera's own window when it has one, else the setting's."""
    return parse_fill_window(own) if own else default


def in_fill_window(window: Window | None, timezone: str, now: datetime) -> bool:
    """Whether an automatic fill may start now on a camera in ``timezone``."""
    if window is None:
        return True
    start, end = window
    try:
        local = now.astimezone(ZoneInfo(timezone or "UTC")).time().replace(tzinfo=None)
    except (KeyError, ValueError):
        local = now.time().replace(tzinfo=None)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def window_text(own: str | None, setting: str | None) -> tuple[str, bool]:
    """(the window that applies to a camera as text, whether it is the camera's own); "" any."""
    if own:
        return format_fill_window(parse_fill_window(own)), True
    return format_fill_window(parse_fill_window(setting)), False

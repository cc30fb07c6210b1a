"""Template filters and globals: times in a camera's zone, durations in words, masking."""

from datetime import datetime
from urllib.parse import quote

from flask import request
from flask import url_for
from flask_login import current_user

from .domain.principal import can
from .domain.states import FILL_STATES
from .domain.times import zone
from .masking import mask_credentials
from .models import rfc3339
from .models import utcnow
from .timeline import RANGE_LABELS

STATE_LABELS = {
    "pending": "Pending",
    "filling": "Filling",
    "filled": "Filled",
    "partial": "Partial",
    "failed": "Failed",
    "expired": "Expired",
}
STATE_HELP = {
    "pending": "Waiting in the fill queue",
    "filling": "A worker is copying footage from the camera now",
    "filled": "Footage recovered and written to the archive",
    "partial": "The camera's replay ended early: only part recovered",
    "failed": "Every attempt failed; press Retry to queue it again",
    "expired": "Older than the camera's SD-card retention",
}


def local_time(value: datetime | None, tz_name: str | None = "UTC", seconds: bool = True) -> str:
    """``2026-06-13 14:00:00 +02:00`` in the camera's zone."""
    if value is None:
        return "—"
    local = value.astimezone(zone(tz_name))
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    offset = local.strftime("%z")
    return f"{local.strftime(fmt)} {offset[:3]}:{offset[3:]}"


def local_parts(value: datetime | None, tz_name: str | None = "UTC") -> tuple[str, str, str]:
    """(``2026-06-13``, ``14:00:00``, ``+02:00``) in the camera's zone, for compact layouts."""
    # isoformat is the cheapest formatter (pages format thousands of times).
    iso = value.astimezone(zone(tz_name)).isoformat(timespec="seconds")
    return iso[:10], iso[11:19], iso[19:]


def duration_words(seconds) -> str:
    """``1 h 5 min``, ``4 min 10 s``, ``45 s``; a day or more as ``2 d 3 h``."""
    if seconds is None:
        return "—"
    total = int(round(float(seconds)))
    if total < 60:
        return f"{total} s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago`` / ``in 2 h``; ``never`` for None."""
    if value is None:
        return "never"
    now = now or utcnow()
    delta = (now - value).total_seconds()
    words = duration_words(abs(delta)).split(" ")
    short = " ".join(words[:2])
    if abs(delta) < 5:
        return "just now"
    return f"{short} ago" if delta > 0 else f"in {short}"


_URL_SHAPES: dict[tuple, str] = {}


def cached_url_for(endpoint: str, **values) -> str:
    """``url_for`` for template loops: each URL shape is built once, then only filled in.

    ``url_for`` costs about 60 µs, and the fleet page needs several links per camera; a
    thousand cameras made that the page's main cost. Values are percent-encoded like url_for
    does; ``None`` values are left out, as url_for leaves them out.
    """
    present = {k: v for k, v in values.items() if v is not None}
    key = (request.script_root, endpoint, tuple(sorted(present)))
    shape = _URL_SHAPES.get(key)
    if shape is None:
        shape = url_for(endpoint, **{k: f"__{k}__" for k in present})
        _URL_SHAPES[key] = shape
    for name, value in present.items():
        shape = shape.replace(f"__{name}__", quote(str(value), safe=""), 1)
    return shape


def install(app) -> None:
    """Register filters and globals on the app's Jinja environment."""
    app.jinja_env.filters.update(
        local_time=local_time,
        local_parts=local_parts,
        duration_words=duration_words,
        relative=relative,
        rfc3339=rfc3339,
        masked=mask_credentials,
    )
    # Imported here: the row builders import this module (removed with them in step 2).
    from .gaps.fleet_rows import fleet_rows_html
    from .gaps.gap_rows import gap_row_html
    from .gaps.gap_rows import gap_rows_html

    app.jinja_env.globals.update(
        TIMELINE_RANGE_LABELS=RANGE_LABELS,
        FILL_STATES=FILL_STATES,
        STATE_LABELS=STATE_LABELS,
        STATE_HELP=STATE_HELP,
        cached_url_for=cached_url_for,
        fleet_rows_html=fleet_rows_html,
        gap_row_html=gap_row_html,
        gap_rows_html=gap_rows_html,
    )

    @app.context_processor
    def inject_principal():
        embed = request.path.startswith("/embed/")
        return {
            "can": lambda cap: current_user.is_authenticated and can(current_user, cap),
            "embed": embed,
            "now": utcnow(),
        }

"""What templates show, computed in Python: times in a camera's zone, durations, table rows.

Templates hold all markup; the row builders here hand them plain values (docs/design.md,
"Rendering"), so a page's loop and an htmx single-row answer render the same macro.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from urllib.parse import quote_plus

from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..domain.fill_schedule import window_text
from ..domain.principal import can
from ..domain.recording_health import RECORDING_HELP
from ..domain.recording_health import RECORDING_LABELS
from ..domain.states import ATTENTION
from ..domain.states import FILL_STATES
from ..domain.states import FILLED
from ..domain.states import FILLING
from ..domain.states import WATCHABLE
from ..domain.times import zone
from ..masking import mask_credentials
from ..models import rfc3339
from ..models import utcnow
from ..plumbing.security import embed_request
from .timeline import RANGE_LABELS

# The states' words come from GapState (domain/states.py), the one vocabulary.
STATE_LABELS: dict[str, str] = {s: s.label for s in FILL_STATES}
# How a fill attempt ended (FillRun.outcome), as the queue's badges and outcome filter say it.
OUTCOME_LABELS = {
    **STATE_LABELS,
    "stopped": "Stopped",
    "returned": "Returned to queue",
    "lost": "Lost",
    "unsupported": "Camera cannot replay",
    "running": "Running",
}
STATE_HELP = {s: s.help for s in FILL_STATES}
# The legend's words: visible on the page, not only in tooltips.
STATE_HELP_SHORT = {s: s.hint for s in FILL_STATES}


def local_time(value: datetime | None, tz_name: str | None = "UTC", seconds: bool = True) -> str:
    """``2026-06-13 14:00:00 +02:00`` in the camera's zone."""
    if value is None:
        return "—"
    # isoformat, not two strftime calls: half the cost, and the timeline formats hundreds a page.
    iso = value.astimezone(zone(tz_name)).isoformat(sep=" ", timespec="seconds")
    return f"{iso[:19] if seconds else iso[:16]} {iso[19:]}"


def local_parts(value: datetime, tz_name: str | None = "UTC") -> tuple[str, str, str]:
    """(``2026-06-13``, ``14:00:00``, ``+02:00``) in the camera's zone, for compact layouts."""
    # isoformat is the cheapest formatter (pages format thousands of times).
    iso = value.astimezone(zone(tz_name)).isoformat(timespec="seconds")
    return iso[:10], iso[11:19], iso[19:]


def zone_offset(tz_name: str | None = "UTC") -> str:
    """The zone's offset now (``+01:00``): said once in a column's header instead of every cell."""
    return utcnow().astimezone(zone(tz_name)).isoformat(timespec="seconds")[19:] or "+00:00"


def zones_of(rows) -> list[str]:
    """The camera zones of a table's rows (``timezone``; none is UTC), each once, sorted.

    One zone: the column header names it and the cells carry no offset. Several: the header says
    "camera time" and each row names its zone once, beside the camera.
    """
    return sorted({(r.get("timezone") or "UTC") for r in rows})


def local_clock(value: datetime | None, tz_name: str | None = "UTC") -> str:
    """``local_time`` without the offset when it is the header's (``zone_offset``); DST shows it."""
    if value is None:
        return "—"
    text = local_time(value, tz_name)
    offset = zone_offset(tz_name)
    return text[: -len(offset) - 1] if text.endswith(" " + offset) else text


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


def duration_text(seconds) -> str:
    """``duration_words`` for a page: non-breaking spaces, so "1 min 30 s" never wraps inside."""
    return duration_words(seconds).replace(" ", "\u00a0")


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


_URL_SHAPES: dict[tuple, tuple[list[str], list[str], list[bool]]] = {}
# What no quoting changes: most ids, states and cursors need none.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
# werkzeug's own safe characters: a path part (its string converter), a query value (urlencode).
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"


def _quoted(value, in_query: bool = False) -> str:
    """``value`` as url_for writes it into a path part or (``in_query``) a query value."""
    text = value if isinstance(value, str) else str(value)
    if _UNQUOTED(text):
        return text
    return quote_plus(text, safe=_QUERY_SAFE) if in_query else quote(text, safe=_PATH_SAFE)


def _url_shape(endpoint: str, names) -> tuple[list[str], list[str], list[bool]]:
    """The URL of ``endpoint`` with ``names`` as slots, cached: (literal pieces, slot names,
    whether each slot is a query value).

    ``names`` in the caller's order: url_for puts query arguments in the order it is given them.
    """
    if endpoint.startswith("."):  # relative, as for url_for: the current blueprint's
        endpoint = f"{request.blueprint}{endpoint}"
    key = (request.script_root, endpoint, names)
    shape = _URL_SHAPES.get(key)
    if shape is None:
        placeholders: dict[str, Any] = {k: f"__{k}__" for k in names}
        built = url_for(endpoint, **placeholders)
        pattern = "|".join(re.escape(f"__{k}__") for k in names) or "(?!)"
        pieces = re.split(f"({pattern})", built)
        literals = pieces[0::2]
        in_query = ["?" in "".join(literals[: i + 1]) for i in range(len(literals) - 1)]
        shape = (literals, [slot[2:-2] for slot in pieces[1::2]], in_query)
        _URL_SHAPES[key] = shape
    return shape


def cached_url_for(endpoint: str, **values) -> str:
    """``url_for`` for template loops: each URL shape is built once, then only filled in.

    ``url_for`` costs about 60 µs, and the fleet page needs several links per camera; a
    thousand cameras made that the page's main cost. The shape is cut once into literal pieces
    and slots, and values are joined into the slots (never searched for placeholders, so a
    camera id such as ``x__gap_id__`` stays a camera id). Values are percent-encoded like
    url_for does; ``None`` values are left out, as url_for leaves them out. A relative endpoint
    (``.camera_gaps``) is the current blueprint's, as for url_for: the site's or the embed's.
    """
    present = {k: v for k, v in values.items() if v is not None}
    literals, slots, in_query = _url_shape(endpoint, tuple(present))
    out = [literals[0]]
    for name, literal, query in zip(slots, literals[1:], in_query, strict=True):
        out.append(_quoted(present[name], query))
        out.append(literal)
    return "".join(out)


class UrlFiller:
    """``cached_url_for`` with every value fixed but one (it comes last), for a loop over it.

    ``UrlFiller("gaps.gap_history", "gap_id", camera_id=cam)(gap_id)``: the fixed values are
    quoted and joined once, so each call joins three strings.
    """

    __slots__ = ("head", "tail", "in_query")

    def __init__(self, endpoint: str, vary: str, **values) -> None:
        present = {k: v for k, v in values.items() if v is not None}
        present[vary] = None  # last, as if passed after the fixed values
        literals, slots, in_query = _url_shape(endpoint, tuple(present))
        parts = [literals[0]]
        head = None
        self.in_query = False
        for name, literal, query in zip(slots, literals[1:], in_query, strict=True):
            if name == vary:
                head = "".join(parts)
                parts = []
                self.in_query = query
            else:
                parts.append(_quoted(present[name], query))
            parts.append(literal)
        self.head = head if head is not None else "".join(parts)
        self.tail = "".join(parts) if head is not None else ""

    def __call__(self, value) -> str:
        return f"{self.head}{_quoted(value, self.in_query)}{self.tail}"


@dataclass(slots=True)
class TimeCell:
    """A time in a camera's zone, split for compact cells; ``stamp`` is the RFC 3339 UTC time."""

    stamp: str
    day: str
    clock: str
    offset: str
    show_day: bool = True
    # The offset is printed only when it differs from the column header's (a DST change).
    show_offset: bool = False


def time_cell(
    value: datetime | None,
    tz: str,
    same_day_as: datetime | None = None,
    own_offset=False,
    header_offset: str | None = None,
):
    """A TimeCell, without the date when it is ``same_day_as``'s local day; None for no time.

    ``own_offset``: the column mixes zones (the fleet), so every cell names its offset.
    ``header_offset``: the column header's offset (``zone_offset(tz)``), when the caller has it.
    """
    if value is None:
        return None
    day, clock, offset = local_parts(value, tz)
    show_day = same_day_as is None or local_parts(same_day_as, tz)[0] != day
    show_offset = own_offset or offset != (header_offset or zone_offset(tz))
    return TimeCell(rfc3339(value), day, clock, offset, show_day, show_offset)


def _span_cells(start: datetime, end: datetime | None, tzinfo, header: str):
    """The start and end TimeCells of a gap row, each time converted once (rows are hot)."""
    iso = start.astimezone(tzinfo).isoformat(timespec="seconds")
    day = iso[:10]
    first = TimeCell(rfc3339(start), day, iso[11:19], iso[19:], True, iso[19:] != header)
    if end is None:
        return first, None
    iso = end.astimezone(tzinfo).isoformat(timespec="seconds")
    last = TimeCell(
        rfc3339(end), iso[:10], iso[11:19], iso[19:], iso[:10] != day, iso[19:] != header
    )
    return first, last


# The camera gap table's columns, in order: templates/gaps/camera.html draws the header from
# them and full-width rows (a gap's history, "Load more") span them all.
GAP_COLUMNS = ("start", "end", "duration", "state", "tries", "last_attempt", "error", "recovered")


class RowRights:
    """What the current principal may do on rows, and the CSRF token: worked out once a page."""

    __slots__ = ("retry", "stop", "export", "csrf")

    @property
    def columns(self) -> tuple[str, ...]:
        """The gap table's columns: who may retry gets the pick box and the actions
        (``GapRow.row_actions``, the same right)."""
        return ("pick", *GAP_COLUMNS, "actions") if self.retry else GAP_COLUMNS

    def __init__(self):
        authenticated = current_user.is_authenticated
        self.retry = authenticated and can(current_user, "retry")
        self.stop = authenticated and can(current_user, "control_fills")
        self.export = authenticated and can(current_user, "export_evidence")
        self.csrf = generate_csrf() if self.retry else ""


@dataclass(slots=True)
class GapRow:
    """One row of the camera gap table, as ``templates/gaps/_rows.html`` draws it."""

    id: str
    state: str
    start: TimeCell | None
    end: TimeCell | None
    duration: str
    progress: int | None
    manual: bool
    attempts: int
    last_attempt_stamp: str | None
    last_attempt_title: str
    last_attempt_words: str
    error: str | None
    stop_requested_by: str | None
    recovered_title: str | None
    recovered_words: str
    # The row has the pick and actions cells (the viewer has neither); a Retry only on
    # failed, partial and expired rows: pending is queued already, filled needs nothing.
    row_actions: bool
    retry_url: str | None
    stop_url: str | None
    stop_refused: str | None
    history_url: str
    watch_url: str | None = None  # filled or partial: there is footage to play
    export_url: str | None = None  # and the principal may export it as evidence


class RowLinks:
    """The URL shapes of a camera's gap rows (history, watch, retry, stop, export): once a page."""

    __slots__ = ("history", "watch", "retry", "stop", "export", "tzinfo", "header")

    def __init__(self, camera, rights: RowRights):
        def filler(endpoint: str) -> UrlFiller:
            return UrlFiller(endpoint, "gap_id", camera_id=camera.id)

        # Relative endpoints: the current blueprint's, the site's or the embed's.
        self.history = filler(".gap_history")
        self.watch = filler(".gap_watch")
        self.retry = filler(".retry_gap_row") if rights.retry else None
        self.stop = filler(".stop_gap_row") if rights.stop else None
        self.export = filler("api.export_evidence") if rights.export else None
        self.tzinfo = zone(camera.timezone)
        self.header = zone_offset(camera.timezone)


def gap_row(
    gap,
    camera,
    rights: RowRights,
    now: datetime | None = None,
    links: RowLinks | None = None,
) -> GapRow:
    """The values of one gap row (``gap`` is a model or a row of ``list_gaps``).

    Its links are the current blueprint's (``.gap_history``): the site's or the embed's;
    ``links``: the page's RowLinks (built here for a single row).
    """
    links = links or RowLinks(camera, rights)
    state = gap.fill_state
    gap_id = gap.id
    attempted = gap.last_attempt_at
    recovered = gap.recovered_seconds
    retry_url = stop_url = None
    if links.retry is not None:
        if state in ATTENTION:
            retry_url = links.retry(gap_id)
        if state == FILLING and links.stop is not None:
            stop_url = links.stop(gap_id)
    watch_url = export_url = None
    if state in WATCHABLE:
        # Watch (and Export evidence) for a row with footage; the Watch page sits beside History.
        watch_url = links.watch(gap_id)
        if links.export is not None:
            export_url = links.export(gap_id)
    start, end = _span_cells(gap.gap_start, gap.gap_end, links.tzinfo, links.header)
    return GapRow(
        id=gap_id,
        state=state,
        start=start,
        end=end,
        duration=duration_text(gap.gap_seconds),
        progress=int(round((gap.progress or 0) * 100)) if state == FILLING else None,
        manual=bool(gap.manual_retry),
        attempts=gap.fill_attempts,
        last_attempt_stamp=rfc3339(attempted) if attempted else None,
        last_attempt_title=(
            f"{local_time(attempted, camera.timezone)} ({rfc3339(attempted)})" if attempted else ""
        ),
        last_attempt_words=relative(attempted, now or utcnow()) if attempted else "",
        error=mask_credentials(gap.last_error) if gap.last_error else None,
        stop_requested_by=gap.stop_requested_by,
        recovered_title=(
            f"{recovered:.1f} s of {gap.gap_seconds} s" if recovered is not None else None
        ),
        recovered_words=duration_text(recovered) if recovered is not None else "",
        row_actions=bool(rights.retry),
        retry_url=retry_url,
        stop_url=stop_url,
        stop_refused="Stop already requested" if gap.stop_requested_by else None,
        history_url=links.history(gap_id),
        watch_url=watch_url,
        export_url=export_url,
    )


def gap_rows(rows, camera, rights: RowRights) -> list:
    """Every row of a page of gaps; ``rights`` and the URL shapes are worked out once a page."""
    now = utcnow()
    links = RowLinks(camera, rights)
    return [gap_row(gap, camera, rights, now, links) for gap in rows]


@dataclass(slots=True)
class FleetRowView:
    """One camera on the fleet table, as ``templates/gaps/_rows.html`` draws it."""

    href: str
    id: str
    name: str
    site: str
    anr_enabled: bool
    attention: bool
    counts: list  # (state, count, "3 failed", link or None) in FILL_STATES order
    badges: list  # the same, states with gaps only
    missing: str
    newest: TimeCell | None
    newest_words: str
    newest_local: str  # the camera's own time, for the title
    recording: str  # ok, stale, never, off
    footage_words: str  # "newest footage 3 min ago"


_LOWER = {s: STATE_LABELS[s].lower() for s in FILL_STATES}


def fleet_rows(rows) -> list[FleetRowView]:
    """The values of every fleet row; one URL shape (``.camera_gaps``) serves all cameras,
    one more a state for the count links (the camera's page on that state's tab)."""
    now = utcnow()
    tabs = {s: UrlFiller(".camera_gaps", "camera_id", state=s) for s in FILL_STATES}
    out = []
    for row in rows:
        cam = row.camera
        counts = []
        for s in FILL_STATES:
            n = row.counts[s]
            counts.append((s, n, f"{n} {_LOWER[s]}", tabs[s](cam.id) if n else None))
        newest = row.newest_gap_start
        out.append(
            FleetRowView(
                href=cached_url_for(".camera_gaps", camera_id=cam.id),
                id=cam.id,
                name=cam.name,
                site=cam.site,
                anr_enabled=cam.anr_enabled,
                attention=row.needs_attention,
                counts=counts,
                badges=[c for c in counts if c[1]],
                missing=duration_text(row.missing_seconds),
                # Camera time, each cell with its offset (cameras differ); UTC is the title.
                newest=time_cell(newest, cam.timezone, own_offset=True),
                newest_words=relative(newest, now) if newest is not None else "",
                newest_local=local_time(newest, cam.timezone) if newest is not None else "",
                recording=row.recording_status,
                footage_words=(
                    f"newest footage {relative(row.last_segment_end, now)}"
                    if row.last_segment_end is not None
                    else "no footage ever"
                ),
            )
        )
    return out


@dataclass(slots=True)
class QueuedRowView:
    """One queued gap on the queue page, as ``templates/queue/_rows.html`` draws it."""

    position: int
    manual: bool
    href: str  # the camera's pending tab, at the gap's row
    camera_name: str
    sub: str  # under the name: the site, and the zone when the table mixes zones
    start: TimeCell
    duration: str
    requested_by: str | None
    requested_words: str  # "3 min ago", for an operator's request
    keeps_stamp: str  # RFC 3339 UTC of the card's deadline
    keeps_local: str  # the deadline in camera time, to the minute
    keeps_words: str  # "in 2 d", or that the card may have overwritten it
    fill_attempts: int


def queued_rows(rows, zones: list[str], camera_page: str, now: datetime) -> list[QueuedRowView]:
    """The values of the queue's rows (a hundred a page): times formatted once each, one URL
    shape for every camera's pending tab (``camera_page``: the site's or the embed's)."""
    link = UrlFiller(camera_page, "camera_id", state="pending")
    several = len(zones) > 1
    out = []
    for g in rows:
        tz = g["timezone"] or "UTC"
        day, clock, offset = local_parts(g["gap_start"], tz)
        keeps = g["card_keeps_until"]
        sub = [g["site"]] if g["site"] else []
        if several:
            sub.append(tz)
        out.append(
            QueuedRowView(
                position=g["position"],
                manual=g["manual"],
                href=f"{link(g['camera_id'])}#gap-{g['gap_id']}",
                camera_name=g["camera_name"],
                sub=" · ".join(sub),
                start=TimeCell(rfc3339(g["gap_start"]), day, clock, offset),
                duration=duration_text(g["gap_seconds"]),
                requested_by=g["requested_by"] or ("an operator" if g["manual"] else None),
                requested_words=relative(g["requested_at"], now) if g["requested_at"] else "",
                keeps_stamp=rfc3339(keeps),
                keeps_local=local_time(keeps, tz, False)[:16],
                keeps_words=relative(keeps, now) if keeps > now else "may already be overwritten",
                fill_attempts=g["fill_attempts"],
            )
        )
    return out


@dataclass(slots=True)
class MarkView:
    """One gap mark of the timeline, as ``templates/gaps/_timeline.html`` draws it."""

    state: str
    href: str
    gap_ids: str  # space-separated: the rows app.js highlights
    # The link's accessible name and tooltip (SVG <title>): "Failed gap: <start> to <end>
    # (4 min 10 s)"; merged gaps: "3 gaps, worst failed: ...".
    title: str
    x: float
    w: float
    quiet: bool  # filled: drawn as a low band, nothing for the operator to do


def timeline_marks(marks, tz: str, href) -> list[MarkView]:
    """The values of every timeline mark (``timeline.Mark``); ``href(mark)`` is its link.

    A page draws a hundred marks or more: each time is formatted once here, and the text of
    the name-and-tooltip is put together here (plain text: the template escapes it).
    """
    tzinfo = zone(tz)
    out = []
    for m in marks:
        if m.gap_id:
            label = f"{STATE_LABELS[m.state]} gap"
        else:
            label = f"{len(m.gap_ids)} gaps, worst {_LOWER[m.state]}"
        a = m.start.astimezone(tzinfo).isoformat(sep=" ", timespec="seconds")
        b = m.end.astimezone(tzinfo).isoformat(sep=" ", timespec="seconds")
        # local_time's "2026-06-13 14:00:00 +02:00", each end converted once.
        span = f"{a[:19]} {a[19:]} to {b[:19]} {b[19:]}"
        out.append(
            MarkView(
                state=m.state,
                href=href(m),
                gap_ids=" ".join(m.gap_ids),
                title=f"{label}: {span} ({duration_text(m.seconds)})",
                x=m.x,
                w=m.w,
                quiet=m.state == FILLED,
            )
        )
    return out


def install(app) -> None:
    """Register filters and globals on the app's Jinja environment."""
    app.jinja_env.filters.update(
        local_time=local_time,
        local_parts=local_parts,
        zones_of=zones_of,
        local_clock=local_clock,
        zone_offset=zone_offset,
        # On a page a duration never wraps inside itself ("1 min 30 s" stays on one line).
        duration_words=duration_text,
        relative=relative,
        rfc3339=rfc3339,
        masked=mask_credentials,
    )
    app.jinja_env.globals.update(
        # url_for from a cached URL shape: the camera page's two dozen links to itself.
        cached_url_for=cached_url_for,
        TIMELINE_RANGE_LABELS=RANGE_LABELS,
        FILL_STATES=FILL_STATES,
        STATE_LABELS=STATE_LABELS,
        OUTCOME_LABELS=OUTCOME_LABELS,
        STATE_HELP=STATE_HELP,
        STATE_HELP_SHORT=STATE_HELP_SHORT,
        RECORDING_LABELS=RECORDING_LABELS,
        RECORDING_HELP=RECORDING_HELP,
    )

    def fill_window_of(camera) -> tuple[str, bool]:
        return window_text(camera.fill_window, app.config.get("ANR_FILL_WINDOW"))

    app.jinja_env.globals["fill_window_of"] = fill_window_of

    @app.context_processor
    def inject_principal():
        embed = embed_request()
        # An embed session that is not narrowed to one camera may go back to its camera list.
        scope = session.get("embed_scope")
        return {
            "embed_fleet": embed and (scope is None or len(scope) != 1),
            "can": lambda cap: current_user.is_authenticated and can(current_user, cap),
            "embed": embed,
            "now": utcnow(),
        }


@dataclass(slots=True)
class FootageView:
    """One archive file of a gap, as the Watch page and the gap's detail panel show it."""

    name: str
    url: str
    start: TimeCell | None
    start_epoch: float
    seconds: float
    length: str
    size_bytes: int
    sha256: str | None
    gap_offset: float  # seconds into this file where the gap's window starts (0 when before)
    on_disk: bool  # False: indexed, but no longer in the archive folder


def footage_views(files, camera, gap, on_disk=None) -> list[FootageView]:
    """The gap's archive files with what the player and the file list need.

    ``on_disk``: the names found in the camera's folder (None: not looked at, taken as there).
    """
    tz = camera.timezone
    start = gap.gap_start.timestamp()
    return [
        FootageView(
            name=f.name,
            url=url_for("api.archive_file", camera_id=camera.id, name=f.name),
            start=time_cell(f.start, tz),
            start_epoch=f.start.timestamp(),
            seconds=round(f.seconds, 3),
            length=duration_text(f.seconds),
            size_bytes=f.size_bytes,
            sha256=f.sha256,
            gap_offset=round(max(start - f.start.timestamp(), 0.0), 3),
            on_disk=on_disk is None or f.name in on_disk,
        )
        for f in files
    ]

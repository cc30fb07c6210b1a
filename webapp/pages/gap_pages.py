"""The fleet and camera gap pages, for both registrations of the gaps blueprint.

``gaps`` serves them on the site and ``embed`` (the same blueprint registered again under
``/embed``, see ``webapp.register_blueprints``) in the compact layout; every link is a relative
``url_for(".camera_gaps", ...)``, so a page never links out of its own layout.

The protocol between these pages and ``static/js/app.js`` (its heading comment says the same):

request, sent by the page
    ``X-CSRFToken`` header      every htmx request (``hx-headers`` on ``<body>``, base.html;
                                checked by the CSRF hook in ``create_app``).
    ``HX-Target`` header        htmx's own: which block to render (``GAP_FRAGMENTS``,
                                ``rendering.render_page``).
    ``shown`` parameter         rows under ``[data-keep-rows]`` when it refreshes (``_shown_rows``).
    ``open`` parameter          gap ids whose history row is open (``_open_details``).
    ``keep`` parameter          gap ids an action changed, at most 20 (``keep_ids``).
    path of a refresh           ``[data-follow-url]`` refreshes from the address bar's URL.
answer, read by the page
    ``HX-Trigger``              ``gaps-changed`` (``{"keep": [gap id]}``: the gap view refreshes
                                and keeps that row), ``replenish:gap-retried`` (``{"gap_id"}``:
                                told to an embedding console).
    ``HX-Retarget``/``HX-Reswap`` on a 4xx or 500: an answer meant to be shown (a row's conflict,
                                a form with its errors, ``errors.error_response``); htmx swaps
                                those statuses (``responseHandling`` in base.html's htmx-config).
markup, read by app.js
    ``data-refresh-seconds``    polled with a ``refresh`` event while the tab is visible.
    ``.row-error``              a row's conflict stays readable 15 s before a refresh.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask import request
from flask import url_for
from flask_login import current_user

from ..domain import evidence
from ..domain import fleet as fleet_mod
from ..domain import incidents
from ..domain import queue_overview as fill_queue
from ..domain.errors import NotFound
from ..domain.gap_actions import fill_problem
from ..domain.gap_actions import gap_of
from ..domain.gap_queries import gap_rows_by_id
from ..domain.gap_queries import list_gaps
from ..domain.gap_queries import parse_state
from ..domain.gap_queries import state_counts
from ..domain.gap_queries import window_counts
from ..domain.paging import decode_cursor
from ..domain.paging import encode_cursor
from ..domain.principal import camera_for
from ..domain.principal import can
from ..domain.principal import require
from ..domain.states import ATTENTION
from ..domain.states import FILLING
from ..domain.times import parse_time
from ..domain.times import stored_time
from ..domain.times import zone
from ..errors import Problem
from ..models import utcnow
from . import timeline as timeline_mod
from .presenters import RowRights
from .presenters import UrlFiller
from .presenters import fleet_rows
from .presenters import footage_views
from .presenters import gap_rows
from .presenters import time_cell
from .presenters import timeline_marks
from .rendering import is_htmx
from .rendering import render_page

PAGE_ROWS = 50
MAX_KEPT_ROWS = 500  # a refresh re-renders what "Load more" showed, up to this many rows
FAST_REFRESH_S = 2  # while a gap is filling the progress bar should move
SLOW_REFRESH_S = 20


def fleet_page():
    """A page of cameras in scope, attention first; search, site and attention in the URL."""
    require("view", current_user)
    fq = fleet_mod.parse_query(request.args)
    page = fleet_mod.fleet_page(current_user, fq)
    summary = fleet_mod.fleet_summary(current_user, fq)
    return render_page(
        "gaps/fleet.html",
        {"fleet": "fleet_table", "*": "fleet_table"},
        rows=page.rows,
        page=page,
        fq=fq,
        attention=fq.attention,
        summary=summary,
        attention_total=summary["attention"],
        sites=fleet_mod.sites(current_user),
        table_rows=fleet_rows(page.rows),
        # "Retry N failed at <site>" once a site is chosen (manager+).
        site_failed=incidents.failed_at_site(current_user, fq.site)
        if fq.site and can(current_user, "retry")
        else 0,
        # The incident window is typed in the shown cameras' zone when they share one, else UTC.
        incident_zone=_one_zone([row.camera.timezone for row in page.rows]),
    )


def _one_zone(zones: list[str]) -> str:
    """The zone all of ``zones`` share, else UTC."""
    return zones[0] if zones and len(set(zones)) == 1 else "UTC"


def _shown_rows() -> int:
    """How many rows a refresh should re-render: what the operator had loaded, bounded."""
    try:
        shown = int(request.args.get("shown", "0"))
    except ValueError:
        shown = 0
    return max(PAGE_ROWS, min(shown, MAX_KEPT_ROWS))


def gap_page_context(
    camera,
    state=None,
    range_key=None,
    before=None,
    limit=PAGE_ROWS,
    tl=True,
    cursor=None,
    keep_ids=(),
    end=None,
):
    """Everything the camera gap page (or one of its fragments) renders: the range, the table,
    the timeline and the window form, each worked out by its own helper below.

    ``keep_ids``: gaps an action just changed stay in the table (with their new state) until the
    next refresh, even when they no longer match the tab.
    A range the operator chose (``range`` in the URL) narrows the table and its tab counts to
    the timeline's window; without one the table lists every gap under the default timeline.
    """
    explicit = range_key in timeline_mod.RANGES
    range_key = timeline_mod.parse_range(range_key)
    # A timeline moved back (``end``) pans the drawing only; the table keeps every gap and each
    # mark links to its row.
    since = (
        utcnow().replace(microsecond=0) - timeline_mod.RANGES[range_key]
        if explicit and end is None
        else None
    )
    problem = fill_problem(camera)
    return dict(
        camera=camera,
        state=state,
        range_key=range_key,
        range_param=range_key if explicit and end is None else None,
        end_param=local_input(end, camera.timezone) if end else None,
        pan=pan_links(range_key, end, camera.timezone),
        table_since=since,
        tz_label=tz_label(camera.timezone),
        fill_problem=problem[1] if problem else None,
        # A page that starts further back (a timeline link) keeps its start when it refreshes.
        cursor=cursor,
        **_table_context(camera, state, since, limit, before, keep_ids),
        **_timeline_context(camera, range_key, end, tl),
        **_window_form_context(camera),
    )


def _table_context(camera, state, since, limit, before, keep_ids) -> dict:
    """The gap table: its rows and rights, the tabs' counts, Retry all, the refresh pace, and
    the row details the operator had open."""
    page = list_gaps(camera.id, state, limit, before, since=since)
    if keep_ids:
        page.rows = with_kept_rows(camera.id, list(page.rows), keep_ids)
    rights = RowRights()
    all_counts = state_counts([camera.id])[camera.id]["counts"]
    counts = all_counts if since is None else window_counts(camera.id, since)
    waiting = fill_queue.waiting_requests(camera.id)
    open_ids = _open_details()
    return dict(
        page=page,
        rows=gap_rows(page.rows, camera, rights),
        rights=rights,
        counts=counts,
        total=sum(counts.values()),
        # Retry all failed acts on every gap of the camera, in the range or not.
        retryable=sum(all_counts[s] for s in ATTENTION),
        # Fast while a fill runs, and while an operator's request waits (it starts any second).
        refresh_seconds=FAST_REFRESH_S if all_counts[FILLING] or waiting else SLOW_REFRESH_S,
        waiting_requests=waiting,
        kept_ids=frozenset(keep_ids),
        # Row details (fill history) the operator had open, kept open across refreshes.
        open_runs={gap_id: fill_queue.run_history(gap_id) for gap_id in open_ids},
        open_files={
            r.id: footage_views(evidence.footage(camera.id, r), camera, r)
            for r in page.rows
            if r.id in open_ids
        },
    )


def _timeline_context(camera, range_key: str, end, tl: bool) -> dict:
    """The coverage timeline and its marks (none for a fragment that does not draw it)."""
    if not tl:
        return dict(timeline=None, marks=[])
    timeline = timeline_mod.build(camera, range_key, now=end)
    links = mark_links(camera, range_key)
    return dict(timeline=timeline, marks=timeline_marks(timeline.marks, camera.timezone, links))


def _window_form_context(camera) -> dict:
    """The "Retrieve a chosen window" form as it first shows: empty, the last hour offered."""
    return dict(
        window_values={},
        window_defaults=last_hour(camera.timezone),
        window_errors={},
        window_notice=None,
    )


MAX_OPEN_DETAILS = 20


def parse_end(raw: str | None, tz_name: str) -> datetime | None:
    """The timeline's ``?end=`` (camera time, or with an offset); None for now.

    Unparsable -> 400 naming the format; a time in the future is now (None)."""
    if raw is None or not raw.strip():
        return None
    end = parse_time(raw, naive_zone=zone(tz_name))
    if end is None:
        raise Problem(
            400,
            f"The timeline's end {raw[:40]!r} is not a date and time: use YYYY-MM-DDTHH:MM "
            "in the camera's time zone, or leave it empty for now.",
        )
    return None if end >= utcnow() else end.replace(microsecond=0)


def local_input(when: datetime, tz_name: str) -> str:
    """``2026-06-13T14:00`` in the camera's zone: what a ``datetime-local`` field holds."""
    return when.astimezone(zone(tz_name)).strftime("%Y-%m-%dT%H:%M")


def pan_links(range_key: str, end: datetime | None, tz_name: str) -> dict:
    """``end`` values of the timeline's "Earlier" and "Later" links (later is None at now)."""
    span = timeline_mod.RANGES[range_key]
    shown_end = end or utcnow().replace(microsecond=0)
    later = None
    if end is not None:
        nxt = end + span
        later = "" if nxt >= utcnow() else local_input(nxt, tz_name)
    return {"earlier": local_input(shown_end - span, tz_name), "later": later}


def _id_list(name: str) -> list[str]:
    """Gap ids a refresh passes along (comma-separated, bounded)."""
    raw = request.args.get(name, "") if request else ""
    return [i for i in raw.split(",") if 0 < len(i) <= 64][:MAX_OPEN_DETAILS]


def _open_details() -> list[str]:
    """Ids of the rows whose history the page has open, kept open across refreshes."""
    return _id_list("open")


def with_kept_rows(camera_id: str, rows: list, keep_ids) -> list:
    """``rows`` plus the kept gaps not among them, in the table's order (newest first)."""
    shown = {r.id for r in rows}
    missing = [i for i in keep_ids if i not in shown][:MAX_KEPT_ROWS]
    if not missing:
        return rows
    extra = gap_rows_by_id(camera_id, missing)
    merged = list(rows) + list(extra)
    merged.sort(key=lambda r: (stored_time(r.gap_start), r.id), reverse=True)
    return merged


def mark_links(camera, range_key: str):
    """Where each timeline mark links: its state tab, starting at its (newest) gap, anchored.

    Used when the row is not on the page. The link names the gap (``?gap=``) and the page
    works out where the table starts when it is followed (``gap_cursor``), so drawing a hundred
    marks costs no cursor each; the URL shape is built once per state tab (``UrlFiller``).
    """
    fillers: dict = {}

    def href(mark) -> str:
        newest = mark.gap_ids[-1]
        state = None if mark.mixed else mark.state
        fill = fillers.get(state)
        if fill is None:
            fill = fillers[state] = UrlFiller(
                ".camera_gaps", "gap", camera_id=camera.id, state=state, range=range_key
            )
        return f"{fill(newest)}#gap-{newest}"

    return href


def gap_cursor(camera, gap_id: str | None) -> str | None:
    """The table cursor that makes gap ``gap_id`` the first row (a timeline mark's link).

    A gap that is gone (or another camera's) starts the table at the top: the link is old,
    not wrong."""
    if not gap_id or len(gap_id) > 64:
        return None
    try:
        gap = gap_of(camera, gap_id)
    except NotFound:
        return None
    # Just after the gap in the table's order (newest first), so it is the first row.
    return encode_cursor(gap.gap_start, gap.id + "~")


def last_hour(tz_name: str) -> dict[str, str]:
    """The window form's default: the hour up to this minute, in the camera's zone."""
    end = utcnow().replace(second=0, microsecond=0).astimezone(zone(tz_name))
    start = end - timedelta(hours=1)
    return {"start": start.strftime("%Y-%m-%dT%H:%M"), "end": end.strftime("%Y-%m-%dT%H:%M")}


def tz_label(tz_name: str) -> str:
    """``Europe/Berlin, UTC+01:00 now`` for the page header."""
    offset = datetime.now(UTC).astimezone(zone(tz_name)).strftime("%z")
    return f"{tz_name}, UTC{offset[:3]}:{offset[3:]}"


# HX-Target -> block of gaps/camera.html. A tab swaps the table (gap-panel); a range link and the
# refresh swap the gap view (timeline and table), which follows the URL the tabs pushed.
GAP_FRAGMENTS = {
    "gap-view": "gap_view",
    "gap-panel": "gap_panel",
    "window-form": "window_form",
    "load-more-row": "more_rows",
}


def camera_page(camera_id: str):
    """The camera's gap page; htmx gets the gap view, the window form, or only the next rows."""
    camera = camera_for(current_user, camera_id)
    state = parse_state(request.args.get("state"))
    raw_cursor = request.args.get("before") or gap_cursor(camera, request.args.get("gap"))
    before = decode_cursor(raw_cursor, datetime, str)
    target = request.headers.get("HX-Target") if is_htmx() else None
    ctx = gap_page_context(
        camera,
        state,
        request.args.get("range"),
        before,
        limit=PAGE_ROWS if target == "load-more-row" else _shown_rows(),
        # A tab swaps only the table and "Load more" only appends rows: no timeline queries.
        tl=target not in ("load-more-row", "gap-panel"),
        cursor=raw_cursor if before else None,
        # A refresh right after a row's action keeps that row (``keep``, from app.js).
        keep_ids=_id_list("keep"),
        end=parse_end(request.args.get("end"), camera.timezone),
    )
    # A tab changes the filter the range links carry: they come along out of band.
    ctx["oob_range_nav"] = target == "gap-panel"
    return render_page("gaps/camera.html", GAP_FRAGMENTS, **ctx)


def history_page(camera_id: str, gap_id: str):
    """Every fill attempt of one gap: a detail row under the gap for htmx, else a page."""
    camera = camera_for(current_user, camera_id)
    gap = gap_of(camera, gap_id)
    return render_page(
        "gaps/history.html",
        {"*": "detail_row"},
        camera=camera,
        gap=gap,
        runs=fill_queue.run_history(gap.id),
        files=footage_views(evidence.footage(camera.id, gap), camera, gap),
        columns=RowRights().columns,  # the gap table the detail row opens in
    )


def watch_page(camera_id: str, gap_id: str):
    """Play a gap's archive files in the page, the window's start marked (any viewer)."""
    camera = camera_for(current_user, camera_id)
    gap = gap_of(camera, gap_id)
    found = evidence.footage(camera.id, gap)
    folder = Path(current_app.config["ANR_RECORDINGS_DIR"]) / camera.id
    on_disk = {f.name for f in found if (folder / f.name).is_file()}
    files = footage_views(found, camera, gap, on_disk)
    rights = RowRights()
    return render_page(
        "gaps/watch.html",
        {},
        camera=camera,
        gap=gap,
        files=files,
        playable=[f for f in files if f.on_disk],
        # The ends of the bar under the player: the first file's start, the last file's end.
        span=(
            (
                time_cell(found[0].start, camera.timezone),
                time_cell(max(f.end for f in found), camera.timezone, found[0].start),
            )
            if found
            else None
        ),
        gap_start=time_cell(gap.gap_start, camera.timezone),
        gap_end=time_cell(gap.gap_end, camera.timezone, gap.gap_start),
        export_url=(
            url_for("api.export_evidence", camera_id=camera.id, gap_id=gap.id)
            if rights.export and on_disk
            else None
        ),
        history_url=url_for(".gap_history", camera_id=camera.id, gap_id=gap.id),
    )

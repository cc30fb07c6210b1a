"""The fleet overview and the camera gap page; one view serves page and htmx fragment."""

import json
from datetime import UTC
from datetime import datetime
from urllib.parse import urlsplit

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from ..auth.principal import camera_for
from ..auth.principal import require
from ..domain import fleet as fleet_mod
from ..errors import Problem
from ..extensions import db
from ..presenters import local_time
from ..presenters import zone
from ..rendering import is_htmx
from ..rendering import render_page
from . import bp
from . import timeline as timeline_mod
from .actions import gap_of
from .actions import queue_window
from .actions import retry_all_failed
from .actions import retry_one
from .actions import stop_one
from .actions import validate_window
from .queries import decode_cursor
from .queries import encode_cursor
from .queries import list_gaps
from .queries import parse_state
from .queries import parse_time
from .queries import state_counts

PAGE_ROWS = 50
MAX_KEPT_ROWS = 500  # a refresh re-renders what "Load more" showed, up to this many rows
FAST_REFRESH_S = 2  # while a gap is filling the progress bar should move
SLOW_REFRESH_S = 20


@bp.before_request
@login_required
def authenticate():
    """Every operator page needs a signed-in user."""


def in_embed() -> bool:
    """True when the request comes from (or is) an /embed page, so links stay inside /embed."""
    if request.path.startswith("/embed/"):
        return True
    current = request.headers.get("HX-Current-URL", "")
    return urlsplit(current).path.startswith("/embed/")


def page_endpoint(name: str) -> str:
    """The endpoint of a page view in the current layout (site or embed)."""
    return f"embed.{name}" if in_embed() else f"gaps.{name}"


@bp.get("/")
def index():
    """The home page is the fleet overview."""
    return redirect(url_for("gaps.fleet"))


@bp.get("/cameras")
def fleet():
    """A page of cameras in scope, attention first; search, site and attention in the URL."""
    require("view")
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
        camera_endpoint=page_endpoint("camera_gaps"),
        fleet_endpoint=page_endpoint("fleet"),
    )


def _shown_rows() -> int:
    """How many rows a refresh should re-render: what the operator had loaded, bounded."""
    try:
        shown = int(request.args.get("shown", "0"))
    except ValueError:
        shown = 0
    return max(PAGE_ROWS, min(shown, MAX_KEPT_ROWS))


def gap_page_context(
    camera, state=None, range_key=None, before=None, limit=PAGE_ROWS, tl=True, cursor=None
):
    """Everything the camera gap page (or one of its fragments) renders."""
    page = list_gaps(camera.id, state, limit, before)
    counts = state_counts([camera.id])[camera.id]["counts"]
    range_key = timeline_mod.parse_range(range_key)
    return dict(
        camera=camera,
        state=state,
        range_key=range_key,
        page=page,
        counts=counts,
        total=sum(counts.values()),
        retryable=counts["failed"] + counts["partial"] + counts["expired"],
        refresh_seconds=FAST_REFRESH_S if counts["filling"] else SLOW_REFRESH_S,
        timeline=timeline_mod.build(camera, range_key) if tl else None,
        page_ep=page_endpoint("camera_gaps"),
        mark_href=lambda mark: mark_href(camera, mark, range_key),
        tz_label=tz_label(camera.timezone),
        window_values={},
        window_errors={},
        window_notice=None,
        # A page that starts further back (a timeline link) keeps its start when it refreshes.
        cursor=cursor,
    )


def mark_href(camera, mark, range_key: str) -> str:
    """Where a timeline mark links: the gap's state tab, starting at its (newest) gap, anchored.

    Used when the row is not on the page; the cursor just after the gap makes it the first row.
    """
    newest = mark.gap_ids[-1]
    cursor = encode_cursor(mark.last_start, newest + "~")
    url = url_for(
        page_endpoint("camera_gaps"),
        camera_id=camera.id,
        state=None if mark.mixed else mark.state,
        range=range_key,
        before=cursor,
    )
    return f"{url}#gap-{newest}"


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


@bp.get("/cameras/<camera_id>/gaps")
def camera_gaps(camera_id: str):
    """The camera's gap page; htmx gets the gap view, the window form, or only the next rows."""
    camera = camera_for(current_user, camera_id)
    state = parse_state(request.args.get("state"))
    before = decode_cursor(request.args.get("before"))
    target = request.headers.get("HX-Target") if is_htmx() else None
    ctx = gap_page_context(
        camera,
        state,
        request.args.get("range"),
        before,
        limit=PAGE_ROWS if target == "load-more-row" else _shown_rows(),
        # A tab swaps only the table and "Load more" only appends rows: no timeline queries.
        tl=target not in ("load-more-row", "gap-panel"),
        cursor=request.args.get("before") if before else None,
    )
    # A tab changes the filter the range links carry: they come along out of band.
    ctx["oob_range_nav"] = target == "gap-panel"
    return render_page("gaps/camera.html", GAP_FRAGMENTS, **ctx)


def _row_response(camera, gap, status=200, row_error=None, event=None):
    """One table row: what the row's buttons swap in; success tells the page to refresh."""
    resp = make_response(
        render_template("gaps/_row.html", camera=camera, gap=gap, row_error=row_error), status
    )
    if row_error:
        # htmx does not swap a 409 by default; app.js swaps answers that name their target.
        resp.headers["HX-Retarget"] = f"#gap-{gap.id}"
        resp.headers["HX-Reswap"] = "outerHTML"
    else:
        # Counts, tabs and timeline follow a moment later (the gap view listens for this).
        resp.headers["HX-Trigger"] = json.dumps({"gaps-changed": True, **(event or {})})
    return resp


def _row_action(camera_id, gap_id, capability, action, done, event_name=None):
    """Run a per-row action; htmx gets the row (a 409 shows in the row), a form the page."""
    camera = camera_for(current_user, camera_id, capability)
    try:
        gap = action(camera, gap_id)
    except Problem as exc:
        db.session.rollback()
        if exc.code != 409 or not is_htmx():
            raise
        # The row says it about itself: "this gap", not its id.
        message = exc.description.replace(f"recording gap {gap_id}", "this gap")
        verb = "Not retried" if capability == "retry" else "Not stopped"
        return _row_response(camera, gap_of(camera, gap_id), 409, row_error=f"{verb}: {message}.")
    db.session.commit()
    if is_htmx():
        event = {event_name: {"gap_id": gap.id}} if event_name else None
        return _row_response(camera, gap, event=event)
    flash(done)
    return redirect(url_for(page_endpoint("camera_gaps"), camera_id=camera.id), 303)


@bp.post("/cameras/<camera_id>/gaps/<gap_id>/retry")
def retry_gap_row(camera_id: str, gap_id: str):
    """Retry one gap from its row: htmx gets the new row, a plain form goes back to the page."""
    return _row_action(
        camera_id,
        gap_id,
        "retry",
        retry_one,
        "The gap is back in the fill queue.",
        "replenish:gap-retried",
    )


@bp.post("/cameras/<camera_id>/gaps/<gap_id>/stop")
def stop_gap_row(camera_id: str, gap_id: str):
    """Stop a running fill from its row; the worker ends it and the gap becomes failed."""
    return _row_action(
        camera_id,
        gap_id,
        "control_fills",
        stop_one,
        "Stop requested; the worker ends the fill shortly.",
    )


@bp.post("/cameras/<camera_id>/gaps/retry-failed")
def retry_failed_page(camera_id: str):
    """Retry every failed/partial/expired gap; htmx gets the refreshed gap panel."""
    camera = camera_for(current_user, camera_id, "retry")
    ids = retry_all_failed(camera)
    db.session.commit()
    notice = f"{len(ids)} gap{'s' if len(ids) != 1 else ''} sent back to the fill queue."
    if not is_htmx():
        flash(notice)
        return redirect(url_for(page_endpoint("camera_gaps"), camera_id=camera.id), 303)
    ctx = gap_page_context(
        camera, parse_state(request.args.get("state")), request.args.get("range")
    )
    return render_page("gaps/camera.html", {"*": "gap_view"}, notice=notice, **ctx)


def parse_local(raw: str, tz_name: str) -> datetime | None:
    """A ``datetime-local`` value read in the camera's zone, as UTC; None when unparsable."""
    return parse_time(raw, naive_zone=zone(tz_name))


@bp.post("/cameras/<camera_id>/gaps/window")
def queue_window_page(camera_id: str):
    """Queue an operator-chosen window (camera time) as a manual gap; errors show in the form."""
    camera = camera_for(current_user, camera_id, "control_fills")
    values = {"start": request.form.get("start", ""), "end": request.form.get("end", "")}
    start = parse_local(values["start"], camera.timezone)
    end = parse_local(values["end"], camera.timezone)
    errors: dict[str, str] = {}
    status = 200
    notice = None
    if start is None:
        errors["start"] = "enter a start date and time"
    if end is None:
        errors["end"] = "enter an end date and time"
    if not errors:
        try:
            start, end = validate_window(start.isoformat(), end.isoformat())
            gap = queue_window(camera, start, end)
            db.session.commit()
            notice = (
                f"Queued {local_time(gap.gap_start, camera.timezone)} to "
                f"{local_time(gap.gap_end, camera.timezone)} for retrieval."
            )
            values = {}
        except Problem as exc:
            db.session.rollback()
            status = exc.code
            fields = exc.fields or {}
            errors = {"start": fields.get("gap_start"), "end": fields.get("gap_end")}
            errors = {k: v for k, v in errors.items() if v}
            if not errors:
                errors["form"] = exc.description
    else:
        status = 422
    if not is_htmx():
        if status == 200:
            flash(notice)
            return redirect(url_for(page_endpoint("camera_gaps"), camera_id=camera.id), 303)
    ctx = gap_page_context(camera, tl=not is_htmx())
    ctx.update(window_values=values, window_errors=errors, window_notice=notice, window_open=True)
    resp = make_response(render_page("gaps/camera.html", {"*": "window_form"}, **ctx), status)
    if status == 200:
        resp.headers["HX-Trigger"] = json.dumps({"gaps-changed": True})
    elif is_htmx():
        # The form answers for itself; app.js swaps error answers that name their target.
        resp.headers["HX-Retarget"] = "#window-form"
        resp.headers["HX-Reswap"] = "outerHTML"
    return resp

"""The fleet overview and the camera gap page; one view serves page and htmx fragment.

Registered twice: ``gaps`` on the site, ``embed`` under /embed (``webapp.register_blueprints``);
every link and redirect is relative (``.camera_gaps``), so each stays in its own layout.
"""

import json
from dataclasses import dataclass

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from ..domain import incidents
from ..domain import jobs
from ..domain.errors import Conflict
from ..domain.errors import DomainError
from ..domain.gap_actions import WindowOverlap
from ..domain.gap_actions import check_window
from ..domain.gap_actions import check_window_queueable
from ..domain.gap_actions import gap_of
from ..domain.gap_actions import parse_gap_ids
from ..domain.gap_actions import queue_window
from ..domain.gap_actions import retry_all_failed
from ..domain.gap_actions import retry_one
from ..domain.gap_actions import retry_selected
from ..domain.gap_actions import stop_one
from ..domain.gap_queries import coverage_holes
from ..domain.gap_queries import parse_state
from ..domain.principal import camera_for
from ..domain.principal import require
from ..domain.states import FAILED
from ..domain.states import FILLED
from ..domain.states import FILLING
from ..domain.states import PENDING
from ..domain.times import parse_time
from ..domain.times import zone
from ..errors import Problem
from ..errors import status_of
from ..extensions import db
from ..models import RecordingGap
from ..models import rfc3339
from ..pages.forms import WINDOW_FIELDS
from ..pages.forms import WINDOW_WORDS
from ..pages.forms import WindowForm
from ..pages.gap_pages import camera_page
from ..pages.gap_pages import fleet_page
from ..pages.gap_pages import gap_page_context
from ..pages.gap_pages import history_page
from ..pages.gap_pages import watch_page
from ..pages.presenters import STATE_LABELS
from ..pages.presenters import RowRights
from ..pages.presenters import gap_row
from ..pages.presenters import local_time
from ..pages.rendering import is_htmx
from ..pages.rendering import render_page
from . import bp


@bp.before_request
@login_required
def authenticate():
    """Every operator page needs a signed-in user."""


@bp.get("/cameras")
def fleet():
    """Every camera in scope with counts per state; ``?attention=1`` keeps those needing care."""
    return fleet_page()


@bp.get("/cameras/<camera_id>/gaps")
def camera_gaps(camera_id: str):
    """The camera's gap page; htmx gets the gap view, the window form, or only the next rows."""
    return camera_page(camera_id)


@bp.get("/")
def index():
    """The home page is the fleet overview."""
    return redirect(url_for(".fleet"))


def _row_response(camera, gap, status=200, row_error=None, event=None, notice=None):
    """One table row: what the row's buttons swap in; success tells the page to refresh."""
    rights = RowRights()
    row = gap_row(gap, camera, rights)
    resp = make_response(
        render_template(
            "gaps/_row.html", row=row, csrf=rights.csrf, row_error=row_error, notice=notice
        ),
        status,
    )
    if row_error:
        # An error answer names its target; htmx swaps it (responseHandling, base.html).
        resp.headers["HX-Retarget"] = f"#gap-{gap.id}"
        resp.headers["HX-Reswap"] = "outerHTML"
    else:
        # Counts, tabs and timeline follow a moment later (the gap view listens for this); that
        # refresh keeps this row, in its new state, even if it left the tab (app.js: ``keep``).
        changed = {"gaps-changed": {"keep": [gap.id]}}
        resp.headers["HX-Trigger"] = json.dumps({**changed, **(event or {})})
    return resp


def _row_action(camera_id, gap_id, capability, action, done, event_name=None):
    """Run a per-row action; htmx gets the row (a 409 shows in the row), a form the page."""
    camera = camera_for(current_user, camera_id, capability)
    try:
        gap = action(camera, gap_id, current_user)
    except Conflict as exc:
        db.session.rollback()
        if not is_htmx():
            raise
        # The row says it about itself: "this gap", not its id.
        message = exc.message.replace(f"recording gap {gap_id}", "this gap")
        verb = "Not retried" if capability == "retry" else "Not stopped"
        return _row_response(camera, gap_of(camera, gap_id), 409, row_error=f"{verb}: {message}.")
    db.session.commit()
    if is_htmx():
        event = {event_name: {"gap_id": gap.id}} if event_name else None
        return _row_response(camera, gap, event=event, notice=done)
    flash(done)
    return redirect(url_for(".camera_gaps", camera_id=camera.id), 303)


@bp.post("/cameras/<camera_id>/gaps/<gap_id>/retry")
def retry_gap_row(camera_id: str, gap_id: str):
    """Retry one gap from its row: htmx gets the new row, a plain form goes back to the page."""
    return _row_action(
        camera_id,
        gap_id,
        "retry",
        retry_one,
        "Retry sent: the gap is back in the fill queue, ahead of automatic work.",
        "replenish:gap-retried",
    )


@bp.post("/cameras/<camera_id>/gaps/<gap_id>/stop")
def stop_gap_row(camera_id: str, gap_id: str):
    """Stop a running fill from its row; the worker ends it keeping what it copied."""
    return _row_action(
        camera_id,
        gap_id,
        "control_fills",
        stop_one,
        "Stop sent: the worker ends the fill within seconds and keeps what it copied.",
    )


def _bulk_answer(camera, ids: list[str], notice: str):
    """After a bulk action: htmx gets the gap view with the moved rows kept (new state) and the
    notice in the message area; a plain form goes back to the page with the notice flashed."""
    if not is_htmx():
        flash(notice)
        return redirect(url_for(".camera_gaps", camera_id=camera.id), 303)
    ctx = gap_page_context(
        camera,
        parse_state(request.args.get("state")),
        request.args.get("range"),
        keep_ids=ids,
    )
    return render_page("gaps/camera.html", {"*": "gap_view"}, notice=notice, **ctx)


def _gaps_words(count: int) -> str:
    return f"{count} gap{'s' if count != 1 else ''}"


@bp.post("/cameras/retry-failed")
def retry_failed_at_site_page():
    """The fleet page's "Retry N failed at <site>": one Retry N failed per camera in scope."""
    require("retry", current_user)
    site = request.form.get("site", "")
    result = incidents.retry_failed_at_site(current_user, site)
    db.session.commit()
    for job in result["jobs"]:
        jobs.start(job.id)
    moved = sum(c["retried"] for c in result["cameras"])
    words = f"{_gaps_words(moved)} at {result['site']} sent back to the fill queue"
    if result["jobs"]:
        words += f" ({len(result['jobs'])} camera(s) continue in the background)"
    if result["refused"]:
        words += ". Not retried: " + "; ".join(r["error"] for r in result["refused"])
    flash(words + ".")
    return redirect(url_for(".fleet", site=result["site"]), 303)


@bp.post("/cameras/retrievals")
def incident_window_page():
    """The fleet page's incident retrieval: one window (in ``zone``) from the ticked cameras."""
    require("control_fills", current_user)
    tz = zone(request.form.get("zone", "UTC"))
    start, end = (parse_time(request.form.get(k, ""), naive_zone=tz) for k in ("start", "end"))
    result = incidents.incident_window(
        current_user,
        request.form.getlist("camera_ids"),
        rfc3339(start) if start else None,
        rfc3339(end) if end else None,
    )
    db.session.commit()
    words = f"Queued that window on {len(result['queued'])} camera(s)"
    if result["refused"]:
        words += ". Refused: " + "; ".join(
            f"{r['camera_id']}: {r['error']}" for r in result["refused"]
        )
    flash(words + ".")
    return redirect(url_for(".fleet"), 303)


@bp.post("/cameras/<camera_id>/gaps/retry-failed")
def retry_failed_page(camera_id: str):
    """Retry every failed/partial/expired gap; htmx gets the refreshed gap view."""
    camera = camera_for(current_user, camera_id, "retry")
    result = retry_all_failed(camera, current_user)
    db.session.commit()
    notice = (
        f"{_gaps_words(result.count)} sent back to the fill queue."
        if result.count
        else "Nothing to retry: no gap is failed, partial or expired."
    )
    if result.job is not None:
        notice = (
            f"Sending {result.count} gaps back to the fill queue in the background "
            f"(job {result.job.id})."
        )
    return _bulk_answer(camera, result.ids, notice)


@bp.post("/cameras/<camera_id>/gaps/retry-selected")
def retry_selected_page(camera_id: str):
    """Retry the gaps ticked in the table (manager+), one audit row; answers like Retry all."""
    camera = camera_for(current_user, camera_id, "retry")
    wanted = request.form.getlist("gap_ids")
    if not wanted:
        raise Problem(400, "Tick the gaps to retry first (the boxes in the first column).")
    wanted = parse_gap_ids(wanted)
    result = retry_selected(camera, wanted, current_user)
    db.session.commit()
    notice = f"{_gaps_words(result.count)} sent back to the fill queue."
    if result.skipped:
        notice += f" {_gaps_words(result.skipped)} left as they were (filled or being filled)."
    return _bulk_answer(camera, result.ids, notice)


@bp.get("/cameras/<camera_id>/gaps/<gap_id>/history")
def gap_history(camera_id: str, gap_id: str):
    """Every fill attempt of one gap: a detail row under the gap for htmx, else a page."""
    return history_page(camera_id, gap_id)


@bp.get("/cameras/<camera_id>/gaps/<gap_id>/watch")
def gap_watch(camera_id: str, gap_id: str):
    """Play the gap's recovered footage in the page (every role that can view the camera)."""
    return watch_page(camera_id, gap_id)


# What to do about the gap a chosen window overlaps, by that gap's state: only what can be done.
OVERLAP_ADVICE = {
    FILLED: "Its footage is in the archive already; choose a window outside it.",
    PENDING: "That gap is queued already; choose a window outside it.",
    FILLING: "That gap is being fetched now; choose a window outside it.",
    FAILED: "Retry that gap instead, or choose a window outside it.",
}


@bp.post("/cameras/<camera_id>/gaps/window")
def queue_window_page(camera_id: str):
    """Queue an operator-chosen window (camera time) as a manual gap; errors show in the form."""
    camera = camera_for(current_user, camera_id, "control_fills")
    form = WindowForm(zone(camera.timezone))
    outcome = _try_window(camera, form) if form.validate() else WindowOutcome(422, form)
    if outcome.status == 200 and outcome.notice and not is_htmx():
        flash(outcome.notice)
        return redirect(url_for(".camera_gaps", camera_id=camera.id), 303)
    return _window_answer(camera, outcome)


@dataclass
class WindowOutcome:
    """What a window request came to: its status, the form to show again, and what to say."""

    status: int
    form: WindowForm
    notice: str | None = None  # queued
    warning: str | None = None  # already recorded: fetch anyway?
    overlap: RecordingGap | None = None  # the gap the window overlaps


def _try_window(camera, form: WindowForm) -> WindowOutcome:
    """Check the window, warn when it is all recorded, or queue it (committed with its audit)."""
    tz = camera.timezone
    try:
        start, end = check_window(
            form.start.data, form.end.data, words=WINDOW_WORDS, in_zone=form.zone
        )
        recorded = not coverage_holes(camera.id, start, end, 1.0)
        if recorded and form.anyway.data != "1":
            # Nothing is missing there: say so before anyone fetches it again, and offer
            # "Fetch anyway" only when the fetch could be queued (no dead end).
            check_window_queueable(camera, start, end)
            warning = (
                f"{local_time(start, tz)} to {local_time(end, tz)}"
                " is already recorded: the archive has footage for all of it."
            )
            return WindowOutcome(200, form, warning=warning)
        gap = queue_window(camera, start, end, current_user)
        db.session.commit()
        span = f"{local_time(gap.gap_start, tz)} to {local_time(gap.gap_end, tz)}"
        notice = f"Queued {span} for retrieval."
        return WindowOutcome(200, WindowForm(zone(tz), formdata=None), notice=notice)
    except WindowOverlap as exc:
        db.session.rollback()
        form.form_errors.append(_overlap_message(camera, exc.gap))
        return WindowOutcome(status_of(exc), form, overlap=exc.gap)
    except DomainError as exc:
        db.session.rollback()
        fields = exc.fields or {}
        for name, message in fields.items():
            getattr(form, WINDOW_FIELDS.get(name, name)).errors = [message]
        if not fields:
            form.form_errors.append(exc.message)
        return WindowOutcome(status_of(exc), form)


def _overlap_message(camera, overlap) -> str:
    """Which gap the window overlaps, in camera time, and what to do about it."""
    tz = camera.timezone
    return (
        f"This window overlaps a {STATE_LABELS[overlap.fill_state].lower()} gap, "
        f"{local_time(overlap.gap_start, tz)} to {local_time(overlap.gap_end, tz)} (camera time). "
        + OVERLAP_ADVICE.get(overlap.fill_state, OVERLAP_ADVICE[FAILED])
    )


def _window_answer(camera, outcome: WindowOutcome):
    """The window form (htmx) or the camera page with the form open, and its status."""
    form = outcome.form
    ctx = gap_page_context(camera, tl=not is_htmx())
    errors = form.first_errors()
    if form.form_errors:
        errors["form"] = form.form_errors[0]
    overlap = outcome.overlap
    ctx.update(
        window_values={"start": form.start._value(), "end": form.end._value()},
        window_errors=errors,
        window_notice=outcome.notice,
        window_warning=outcome.warning,
        window_overlap_href=None
        if overlap is None
        else url_for(
            ".camera_gaps",
            camera_id=camera.id,
            state=overlap.fill_state,
            _anchor=f"gap-{overlap.id}",
        ),
        window_open=True,
    )
    html = render_page("gaps/camera.html", {"*": "window_form"}, **ctx)
    resp = make_response(html, outcome.status)
    if outcome.status == 200:
        resp.headers["HX-Trigger"] = json.dumps({"gaps-changed": True})
    elif is_htmx():
        # The form answers for itself; htmx swaps it (responseHandling, base.html).
        resp.headers["HX-Retarget"] = "#window-form"
        resp.headers["HX-Reswap"] = "outerHTML"
    return resp

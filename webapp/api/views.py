"""JSON routes: cameras, recording gaps (list, retry, stop, ingest), holes (docs/design.md)."""

from dataclasses import asdict
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from ..anr.probe import probe_camera
from ..domain import cameras as camera_settings
from ..domain import fleet
from ..domain import incidents
from ..domain import jobs
from ..domain import queue_overview as fill_queue_mod
from ..domain.gap_actions import gap_of
from ..domain.gap_actions import ingest_gap
from ..domain.gap_actions import parse_gap_ids
from ..domain.gap_actions import queue_window
from ..domain.gap_actions import retry_all_failed
from ..domain.gap_actions import retry_one
from ..domain.gap_actions import retry_selected
from ..domain.gap_actions import stop_one
from ..domain.gap_actions import validate_window
from ..domain.gap_queries import MAX_HOLES_WINDOW
from ..domain.gap_queries import RAW_LIST_COLUMNS
from ..domain.gap_queries import coverage_holes
from ..domain.gap_queries import gap_rows_json
from ..domain.gap_queries import list_gaps
from ..domain.gap_queries import parse_state
from ..domain.paging import decode_cursor
from ..domain.paging import parse_limit
from ..domain.principal import camera_for
from ..domain.principal import camera_id_for
from ..domain.principal import can
from ..domain.principal import require
from ..domain.times import parse_time
from ..errors import Problem
from ..extensions import db
from ..models import rfc3339
from ..models import utcnow
from . import bp


@bp.before_request
@login_required
def authenticate():
    """Every API route needs a session or a bearer key (401 with WWW-Authenticate otherwise)."""


CAMERAS_DEFAULT_LIMIT = 500


@bp.get("/cameras")
def list_cameras():
    """Cameras in scope with per-state gap counts, attention first; search, site, cursor."""
    require("view", current_user)
    fq = fleet.parse_query(request.args, default_limit=CAMERAS_DEFAULT_LIMIT)
    page = fleet.fleet_page(current_user, fq)
    resp = jsonify([fleet_row_json(row) for row in page.rows])
    links = []
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            url = url_for("api.list_cameras", **fq.args(before=cursor), limit=fq.limit)
            links.append(f'<{url}>; rel="{rel}"')
    if links:
        resp.headers["Link"] = ", ".join(links)
    return resp


def fleet_row_json(row) -> dict:
    """A camera as the cameras list shows it."""
    cam = row.camera
    return {
        "id": cam.id,
        "name": cam.name,
        "site": cam.site,
        "timezone": cam.timezone,
        "vendor": cam.vendor,
        "anr_enabled": cam.anr_enabled,
        "enabled": cam.enabled,
        "fill_window": cam.fill_window,
        "counts": row.counts,
        "missing_seconds": row.missing_seconds,
        "newest_gap_start": rfc3339(row.newest_gap_start),
        "needs_attention": row.needs_attention,
        "recording_status": row.recording_status,
        "last_segment_end": rfc3339(row.last_segment_end),
    }


@bp.get("/cameras/<camera_id>")
def get_camera(camera_id: str):
    """One camera in scope as the cameras list shows it: counts, missing time, recording status."""
    camera = camera_for(current_user, camera_id)
    return jsonify(fleet_row_json(fleet.fleet_rows_of([camera])[0]))


@bp.delete("/cameras/<camera_id>")
def delete_camera(camera_id: str):
    """Delete a camera (admin; scope before existence): 204, one ``camera_delete`` audit row.

    Gaps, fill runs, segments and jobs go with it (ON DELETE CASCADE); archive files stay on disk.
    """
    camera = camera_for(current_user, camera_id, "manage_cameras")
    camera_settings.remove(camera, current_user)
    db.session.commit()
    return "", 204


@bp.post("/cameras/<camera_id>/test")
def test_camera(camera_id: str):
    """Test connection (admin): ``{"checks": [{"name", "ok", "text"}]}``, texts masked."""
    camera = camera_for(current_user, camera_id, "manage_cameras")
    timeout = min(float(current_app.config.get("ANR_IO_TIMEOUT_S", 5.0)), 5.0)
    return jsonify({"checks": [asdict(c) for c in probe_camera(camera, timeout_s=timeout)]})


@bp.get("/queue")
def fill_queue():
    """The fleet's fill queue: running fills, queued gaps in claim order, outcomes, workers."""
    require("view", current_user)
    flt = fill_queue_mod.parse_filter(request.args, current_user)
    limit = parse_limit(request.args.get("limit"), default=fill_queue_mod.QUEUE_PAGE)
    limit = min(limit, 1000)
    outcome = fill_queue_mod.parse_outcome(request.args.get("outcome"))
    view = fill_queue_mod.queue_view(
        flt,
        request.args.get("before"),
        limit,
        outcome=outcome,
        outcomes_before=request.args.get("outcomes_before"),
    )
    body = {
        "running": fill_queue_mod.as_json(view.running),
        "queued": fill_queue_mod.as_json(view.queued.rows),
        "queued_total": view.queued.total,
        "not_queued": view.not_queued,
        "recent": fill_queue_mod.as_json(view.recent.rows),
        # Older outcomes: pass it back as ?outcomes_before= (with the same outcome filter).
        "recent_next": view.recent.next_cursor,
        "workers": fill_queue_mod.as_json(view.workers),
        "fill_window": view.fill_window or None,
        "camera_windows": fill_queue_mod.as_json(view.camera_windows),
        "jobs": [{k: v for k, v in job.items() if k != "active"} for job in view.jobs],
    }
    resp = jsonify(body)
    if view.queued.next_cursor:
        url = url_for("api.fill_queue", **flt.args(), limit=limit, before=view.queued.next_cursor)
        resp.headers["Link"] = f'<{url}>; rel="next"'
    return resp


@bp.get("/cameras/<camera_id>/recording-gaps/<gap_id>/runs")
def gap_runs(camera_id: str, gap_id: str):
    """Every fill attempt of one gap, newest first (Retry never erases them)."""
    camera = camera_for(current_user, camera_id)
    gap = gap_of(camera, gap_id)
    return jsonify(fill_queue_mod.as_json(fill_queue_mod.run_history(gap.id)))


@bp.post("/cameras/<camera_id>/recording-gaps/retry-selected")
def retry_selected_gaps(camera_id: str):
    """Send the chosen gaps back to the queue (manager+), one audit row; answers the count."""
    camera = camera_for(current_user, camera_id, "retry")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "send a JSON object with gap_ids", "invalid_json")
    wanted = parse_gap_ids(body.get("gap_ids"))
    result = retry_selected(camera, wanted, current_user)
    db.session.commit()
    return jsonify({"retried": result.count, "skipped": result.skipped, "gap_ids": result.ids})


@bp.get("/cameras/<camera_id>/recording-gaps")
def list_recording_gaps(camera_id: str):
    """The camera's gaps, newest first, with a ``Link: rel="next"`` cursor when more remain."""
    camera_id = camera_id_for(current_user, camera_id)
    state = parse_state(request.args.get("state"))
    limit = parse_limit(request.args.get("limit"))
    before = decode_cursor(request.args.get("before"), datetime, str)
    page = list_gaps(camera_id, state, limit, before, columns=RAW_LIST_COLUMNS)
    resp = jsonify(gap_rows_json(page.rows))
    if page.next_cursor:
        args: dict[str, Any] = {"camera_id": camera_id, "limit": limit, "before": page.next_cursor}
        if state:
            args["state"] = state
        link = url_for("api.list_recording_gaps", **args)
        resp.headers["Link"] = f'<{link}>; rel="next"'
    return resp


@bp.post("/cameras/<camera_id>/recording-gaps/<gap_id>/retry")
def retry_gap(camera_id: str, gap_id: str):
    """Send one gap back to the fill queue (manager+)."""
    camera = camera_for(current_user, camera_id, "retry")
    gap = retry_one(camera, gap_id, current_user)
    db.session.commit()
    return jsonify(gap.to_json())


@bp.post("/cameras/<camera_id>/recording-gaps/retry-failed")
def retry_failed(camera_id: str):
    """Send every failed, partial and expired gap of the camera back to the queue (manager+)."""
    camera = camera_for(current_user, camera_id, "retry")
    result = retry_all_failed(camera, current_user)
    db.session.commit()
    if result.job is None:
        return jsonify({"retried": result.count})
    # Too many for one request: the worker's job does it; the answer says where to watch it.
    resp = jsonify({"retried": None, "job": result.job.to_json()})
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.get_job", job_id=result.job.id)
    return resp


@bp.post("/retrievals")
def create_retrieval():
    """One incident window from several cameras (manager+, scoped): queued and refused lists."""
    require("control_fills", current_user)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "send a JSON object with camera_ids, start and end", "invalid_json")
    result = incidents.incident_window(
        current_user, body.get("camera_ids"), body.get("start"), body.get("end")
    )
    db.session.commit()
    return jsonify(result), 201


@bp.post("/cameras/retry-failed")
def retry_failed_at_site():
    """Retry N failed on every camera of ``?site=`` in scope (manager+): 202 with the jobs."""
    require("retry", current_user)
    result = incidents.retry_failed_at_site(current_user, request.args.get("site"))
    db.session.commit()
    for job in result["jobs"]:
        jobs.start(job.id)
    answer = {**result, "jobs": [job.to_json() for job in result["jobs"]]}
    answer["retried"] = sum(c["retried"] for c in result["cameras"])
    return jsonify(answer), 202


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """A background job's progress (a bulk retry too big for one request)."""
    require("view", current_user)
    job = jobs.visible_job(job_id, current_user)
    if job is None:
        raise Problem(404, f"job {job_id[:64]} not found")
    return jsonify(job.to_json())


@bp.post("/cameras/<camera_id>/recording-gaps/<gap_id>/stop")
def stop_gap(camera_id: str, gap_id: str):
    """Stop a running fill (manager+); the worker ends ffmpeg and keeps what it copied."""
    camera = camera_for(current_user, camera_id, "control_fills")
    gap = stop_one(camera, gap_id, current_user)
    db.session.commit()
    return jsonify(gap.to_json())


@bp.post("/cameras/<camera_id>/recording-gaps")
def report_gap(camera_id: str):
    """Ingest a gap (integration/admin), or queue a chosen window (manager). Idempotent."""
    if not can(current_user, "control_fills"):
        require("ingest", current_user)  # 403 naming the missing permission before anything else
    camera = camera_for(current_user, camera_id)  # scope (403), then existence (404)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "send a JSON object with gap_start and gap_end", "invalid_json")
    manual = body.get("manual") is True or not can(current_user, "ingest")
    require("control_fills" if manual else "ingest", current_user)
    start, end = validate_window(body.get("gap_start"), body.get("gap_end"))
    if manual:
        gap, created = queue_window(camera, start, end, current_user), True
    else:
        gap, created = ingest_gap(camera, start, end, current_user)
    db.session.commit()
    resp = jsonify(gap.to_json())
    resp.status_code = 201 if created else 200
    if created:
        resp.headers["Location"] = url_for(
            "api.list_recording_gaps", camera_id=camera.id, before=None
        )
    return resp


@bp.get("/cameras/<camera_id>/gaps")
def coverage_gaps(camera_id: str):
    """Holes in segment coverage over a window of at most 7 days (default: the last 24 h)."""
    camera = camera_for(current_user, camera_id)
    now = utcnow()
    fields = {}
    end = parse_time(request.args["to"]) if request.args.get("to") else now
    start = parse_time(request.args["from"]) if request.args.get("from") else None
    if end is None:
        fields["to"] = "must be an RFC 3339 time"
    if request.args.get("from") and start is None:
        fields["from"] = "must be an RFC 3339 time"
    try:
        min_seconds = float(request.args.get("min_seconds", "3"))
        if min_seconds < 0 or min_seconds != min_seconds:
            raise ValueError
    except ValueError:
        fields["min_seconds"] = "must be a number of seconds, 0 or more"
    if fields:
        raise Problem(400, "; ".join(f"{k} {v}" for k, v in fields.items()), "invalid_window")
    assert end is not None  # a "to" that does not parse was refused just above
    if start is None:
        start = end - timedelta(hours=24)
    if end <= start:
        raise Problem(400, "to must be later than from", "invalid_window")
    if end - start > MAX_HOLES_WINDOW:
        raise Problem(400, "the window may be at most 7 days", "invalid_window")
    holes = coverage_holes(camera.id, start, end, min_seconds)
    return jsonify(
        [
            {"start": rfc3339(a), "end": rfc3339(b), "seconds": round((b - a).total_seconds(), 3)}
            for a, b in holes
        ]
    )

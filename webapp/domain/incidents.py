"""Incident retrieval: one window from several cameras at once (docs/design.md).

Each camera's window goes through ``queue_window`` (its own checks and audit row); a camera
that refuses (overlap, disabled, no source) is listed with its reason instead of failing the
others. The request itself is one ``anr_incident_window`` audit row.
"""

from sqlalchemy import func

from ..extensions import db
from ..models import Camera
from ..models import CameraGapStat
from ..models import rfc3339
from ..models import valid_camera_id
from .audit import record
from .bulk_retry import retryable_count
from .errors import DomainError
from .errors import Invalid
from .errors import NotFound
from .gap_actions import check_window
from .gap_actions import queue_window
from .gap_actions import retry_all_failed
from .principal import require_in_scope
from .principal import scoped
from .states import ATTENTION
from .times import parse_time

MAX_CAMERAS = 100


def parse_camera_ids(raw) -> list[str]:
    """The request's camera ids, deduplicated in order; 422 naming what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise Invalid("camera_ids must be a non-empty list of camera ids", "invalid_cameras")
    if len(raw) > MAX_CAMERAS:
        raise Invalid(f"camera_ids may name at most {MAX_CAMERAS} cameras", "invalid_cameras")
    bad = [str(c)[:64] for c in raw if not isinstance(c, str) or not valid_camera_id(c)]
    if bad:
        raise Invalid(f"not camera ids: {', '.join(bad[:10])}", "invalid_cameras")
    return list(dict.fromkeys(raw))


def incident_window(actor, camera_ids_raw, start_raw, end_raw) -> dict:
    """Queue [start, end) on every named camera the actor may fetch from; audited.

    403 when any camera is outside the actor's scope (the same answer whether it exists or
    not), 422 for unknown cameras or a bad window, each naming them. The caller commits.
    """
    camera_ids = parse_camera_ids(camera_ids_raw)
    require_in_scope(actor, camera_ids, listed=True)
    try:
        start, end = check_window(parse_time(start_raw), parse_time(end_raw))
    except Invalid as exc:
        names = {"gap_start": "start", "gap_end": "end"}
        fields = {names.get(k, k): v for k, v in (exc.fields or {}).items()}
        raise Invalid("the window is not valid", fields=fields) from None
    found = {
        c.id: c for c in db.session.scalars(db.select(Camera).where(Camera.id.in_(camera_ids)))
    }
    unknown = [c for c in camera_ids if c not in found]
    if unknown:
        raise Invalid(f"unknown cameras: {', '.join(unknown)}", "unknown_cameras")
    queued, refused = [], []
    for camera_id in camera_ids:
        try:
            with db.session.begin_nested():
                gap = queue_window(found[camera_id], start, end, actor)
            queued.append({"camera_id": camera_id, "gap_id": gap.id})
        except DomainError as exc:
            refused.append({"camera_id": camera_id, "code": exc.slug, "error": exc.message})
    record(
        "anr_incident_window",
        "incident",
        None,
        detail={
            "start": rfc3339(start),
            "end": rfc3339(end),
            "queued": [q["camera_id"] for q in queued],
            "refused": [r["camera_id"] for r in refused],
        },
        actor=actor,
    )
    return {"queued": queued, "refused": refused}


def retry_failed_at_site(actor, site_raw) -> dict:
    """After a site's outage: Retry N failed on every camera of ``site`` in the actor's scope.

    One ``retry_all_failed`` per camera (its own audit row, a job of its own when it is big),
    so the site-wide request adds no second way of retrying. A camera that could never run the
    request is listed as refused. 422 without a site, 404 for a site with no camera in scope.
    The caller commits, then starts the jobs.
    """
    site = site_raw.strip() if isinstance(site_raw, str) else ""
    if not site or len(site) > 200:
        raise Invalid("name the site: ?site=<site name>", "invalid_site")
    query = db.select(Camera).where(Camera.site == site).order_by(Camera.id)
    cameras = [c for c in db.session.scalars(query) if actor.in_scope(c.id)]
    if not cameras:
        raise NotFound(f"no camera of yours at site '{site[:64]}'", "unknown_site")
    done, refused, started = [], [], []
    for camera in cameras:
        if not retryable_count(camera.id):
            continue
        try:
            with db.session.begin_nested():
                result = retry_all_failed(camera, actor)
        except DomainError as exc:
            refused.append({"camera_id": camera.id, "code": exc.slug, "error": exc.message})
            continue
        done.append({"camera_id": camera.id, "retried": result.count})
        if result.job is not None:
            started.append(result.job)
    return {"site": site, "cameras": done, "refused": refused, "jobs": started}


def failed_at_site(actor, site: str) -> int:
    """Failed, partial and expired gaps of the actor's cameras at ``site`` (the fleet button).

    From the per-state counters (one row per camera and state), so it costs O(cameras).
    """
    query = (
        db.select(func.coalesce(func.sum(CameraGapStat.gap_count), 0))
        .join(Camera, Camera.id == CameraGapStat.camera_id)
        .where(Camera.site == site, CameraGapStat.fill_state.in_(ATTENTION))
    )
    return int(db.session.execute(scoped(query, Camera.id, actor)).scalar_one())

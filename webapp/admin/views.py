"""Admin pages: list, create and edit cameras with their ANR settings and a URL preview."""

from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import available_timezones

from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from sqlalchemy import select

from ..anr.probe import probe_camera
from ..anr.replay import PLACEHOLDERS
from ..anr.replay import ReplayUrlError
from ..anr.replay import camera_replay_url
from ..domain import cameras as camera_settings
from ..domain.alerts import receiver_statuses
from ..domain.fill_schedule import window_text
from ..domain.principal import camera_for
from ..domain.principal import require
from ..domain.principal import require_in_scope
from ..domain.principal import scoped
from ..domain.recording_health import recording_status
from ..domain.recording_health import stale_after
from ..domain.vendors import registry
from ..extensions import db
from ..masking import mask_credentials
from ..models import FILL_METHODS
from ..models import REPLAY_CLOCKS
from ..models import Camera
from ..models import utcnow
from ..pages.forms import CameraForm
from . import bp

# The IANA zones the camera form offers, UTC first (the zone database of this machine).
TIMEZONES = ["UTC", *sorted(available_timezones() - {"UTC"})]


@bp.before_request
@login_required
def authenticate():
    """Admin pages need a signed-in admin; the 403 names what the page is for."""
    accounts = request.path.startswith(("/admin/users", "/admin/api-keys"))
    require("manage_users" if accounts else "manage_cameras", current_user)


@bp.get("/cameras")
def cameras():
    """Every camera in scope, with its ANR settings at a glance."""
    query = scoped(select(Camera).order_by(Camera.id), Camera.id, current_user)
    rows = db.session.execute(query).scalars().all()
    now = utcnow()
    limit = stale_after(current_app.config)
    status = {c.id: recording_status(c.enabled, c.last_segment_end, now, limit) for c in rows}
    return render_template(
        "admin/cameras.html",
        cameras=rows,
        status=status,
        receivers=receiver_statuses(),
        stale_minutes=limit.total_seconds() / 60,
        vendors=registry(),
    )


def _form(camera=None, values=None, errors=None, status=200):
    """The camera form, filled with ``values`` (or the camera's settings), with its errors."""
    values = (
        values
        if values is not None
        else (
            camera_settings.public_settings(camera)
            if camera
            else {
                "timezone": "UTC",
                "channel": 1,
                "rtsp_port": 554,
                "http_port": 80,
                "segment_seconds": 60,
                "enabled": True,
                "vendor": "generic",
            }
        )
    )
    return render_template(
        "admin/camera_form.html",
        camera=camera,
        values=values,
        errors=errors or {},
        vendors=list(registry().values()),
        placeholders=PLACEHOLDERS,
        clocks=REPLAY_CLOCKS,
        methods=FILL_METHODS,
        preview=preview_from(values),
        timezones=TIMEZONES,
        default_retention_hours=float(current_app.config["ANR_MAX_GAP_HOURS"]),
        default_fill_window=window_text(None, current_app.config.get("ANR_FILL_WINDOW"))[0],
    ), status


def preview_url(camera) -> str:
    """The replay URL for a sample window (the last five minutes), credentials masked."""
    end = utcnow().replace(microsecond=0)
    try:
        # The password is not decrypted for a preview: a placeholder shows where it would go.
        url = camera_replay_url(camera, end - timedelta(minutes=5), end, password="secret")
    except ReplayUrlError as exc:
        return f"(no URL: {exc})"
    return mask_credentials(url)


PREVIEW_FIELDS = (
    "vendor",
    "anr_replay_url_template",
    "address",
    "rtsp_port",
    "http_port",
    "channel",
    "username",
    "timezone",
    "replay_clock",
)


def preview_from(values: dict) -> str:
    """The masked preview URL for form values (saved or not); the reason when none is possible."""
    data = {name: values.get(name) for name in PREVIEW_FIELDS}
    data["name"] = "preview"
    clean, errors = camera_settings.validate(data, creating=False)
    problem = next((errors[f] for f in PREVIEW_FIELDS if f in errors), None)
    if problem:
        return f"(no URL: {problem})"
    return preview_url(SimpleNamespace(**{f: clean[f] for f in PREVIEW_FIELDS}))


@bp.post("/replay-url-preview")
def preview():
    """The preview line for the form's current values (htmx, as the admin types)."""
    return render_template("admin/_preview.html", preview=preview_from(request.form.to_dict()))


@bp.get("/cameras/new")
def new_camera():
    """The empty camera form."""
    return _form()


@bp.post("/cameras/new")
def create_camera():
    """Create a camera; errors re-render the form and nothing is saved."""
    # Scope before existence, as everywhere: a scoped admin may only add ids in their scope, and
    # learns nothing from "already exists" about the cameras outside it.
    cid = request.form.get("id", "").strip()
    require_in_scope(current_user, [cid])
    form = CameraForm()
    if not form.validate():
        return _form(values=form.submitted(), errors=form.first_errors(), status=422)
    camera = camera_settings.create(form.clean, current_user)
    db.session.commit()
    flash(f"Camera {camera.name} created.")
    return redirect(url_for(".edit_camera", camera_id=camera.id), 303)


@bp.get("/cameras/<camera_id>")
def edit_camera(camera_id: str):
    """The camera's settings form, with the masked replay URL preview."""
    camera = camera_for(current_user, camera_id, "manage_cameras")
    return _form(camera)


@bp.post("/cameras/<camera_id>")
def update_camera(camera_id: str):
    """Save a camera's settings; errors re-render the form and nothing is saved."""
    camera = camera_for(current_user, camera_id, "manage_cameras")
    form = CameraForm(current=camera)
    if not form.validate():
        return _form(camera, values=form.submitted(), errors=form.first_errors(), status=422)
    camera_settings.update(camera, form.clean, current_user)
    db.session.commit()
    flash(f"Camera {camera.name} saved.")
    return redirect(url_for(".edit_camera", camera_id=camera.id), 303)


@bp.post("/cameras/<camera_id>/delete")
def delete_camera(camera_id: str):
    """Delete a camera (scope before existence) with one ``camera_delete`` audit row.

    Its gaps, fill runs, segments, gap statistics and jobs go with it (the schema's ON DELETE
    CASCADE); the audit log keeps its rows, and the archive files stay on disk.
    """
    camera = camera_for(current_user, camera_id, "manage_cameras")
    name = camera.name
    camera_settings.remove(camera, current_user)
    db.session.commit()
    flash(f"Camera {name} deleted. Its archive files were left on disk.")
    target = url_for(".cameras")
    if request.headers.get("HX-Request"):
        resp = make_response("", 204)
        resp.headers["HX-Redirect"] = target
        return resp
    return redirect(target, 303)


@bp.post("/cameras/<camera_id>/test")
def test_camera(camera_id: str):
    """Test connection (htmx fragment): reachability, authentication, the card, the fill method."""
    camera = camera_for(current_user, camera_id, "manage_cameras")
    timeout = min(float(current_app.config.get("ANR_IO_TIMEOUT_S", 5.0)), 5.0)
    return render_template("admin/_probe.html", checks=probe_camera(camera, timeout_s=timeout))

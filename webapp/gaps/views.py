"""The fleet overview and the camera gap page; one view serves page and htmx fragment."""

import json

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
from ..extensions import db
from ..rendering import is_htmx
from ..rendering import render_page
from . import bp
from .actions import retry_all_failed
from .actions import retry_one
from .queries import decode_cursor
from .queries import fleet_overview
from .queries import list_gaps
from .queries import parse_state
from .queries import state_counts

PAGE_ROWS = 50


@bp.before_request
@login_required
def authenticate():
    """Every operator page needs a signed-in user."""


@bp.get("/")
def index():
    """The home page is the fleet overview."""
    return redirect(url_for("gaps.fleet"))


@bp.get("/cameras")
def fleet():
    """Every camera in scope with counts per state; ``?attention=1`` keeps those needing care."""
    require("view")
    attention = request.args.get("attention") == "1"
    rows = fleet_overview(current_user, needs_attention=attention)
    return render_page(
        "gaps/fleet.html",
        {"fleet": "fleet_table", "*": "fleet_table"},
        rows=rows,
        attention=attention,
    )


@bp.get("/cameras/<camera_id>/gaps")
def camera_gaps(camera_id: str):
    """The camera's gaps with state tabs and counts; htmx gets the table (or only more rows)."""
    camera = camera_for(current_user, camera_id)
    state = parse_state(request.args.get("state"))
    before = decode_cursor(request.args.get("before"))
    page = list_gaps(camera.id, state, PAGE_ROWS, before)
    counts = state_counts([camera.id])[camera.id]["counts"]
    return render_page(
        "gaps/camera.html",
        {"gap-panel": "gap_panel", "more-rows": "more_rows"} if not before else {"*": "more_rows"},
        camera=camera,
        state=state,
        page=page,
        counts=counts,
        total=sum(counts.values()),
    )


@bp.post("/cameras/<camera_id>/gaps/<gap_id>/retry")
def retry_gap_row(camera_id: str, gap_id: str):
    """Retry one gap from its row: htmx gets the new row, a plain form goes back to the page."""
    camera = camera_for(current_user, camera_id, "retry")
    gap = retry_one(camera, gap_id)
    db.session.commit()
    if is_htmx():
        resp = make_response(render_template("gaps/_row.html", gap=gap, camera=camera))
        resp.headers["HX-Trigger"] = json.dumps({"replenish:gap-retried": {"gap_id": gap.id}})
        return resp
    flash("The gap is back in the fill queue.")
    return redirect(url_for(".camera_gaps", camera_id=camera.id))


@bp.post("/cameras/<camera_id>/gaps/retry-failed")
def retry_failed_page(camera_id: str):
    """Retry every failed/partial/expired gap; answers with the refreshed gap panel."""
    camera = camera_for(current_user, camera_id, "retry")
    ids = retry_all_failed(camera)
    db.session.commit()
    flash(f"{len(ids)} gap{'s' if len(ids) != 1 else ''} sent back to the fill queue.")
    return redirect(url_for(".camera_gaps", camera_id=camera.id), 303)

"""``/queue`` (and ``/embed/queue``): one view serves the page and its htmx fragments; Stop
answers with the view."""

from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from ..domain import queue_overview as fill_queue
from ..domain.fleet import camera_choices
from ..domain.fleet import sites
from ..domain.gap_actions import stop_one
from ..domain.principal import camera_for
from ..domain.principal import require
from ..domain.states import FILL_OUTCOMES
from ..extensions import db
from ..models import utcnow
from ..pages.presenters import queued_rows
from ..pages.presenters import zones_of
from ..pages.rendering import is_htmx
from ..pages.rendering import render_page
from ..plumbing.security import embed_request
from . import bp

# HX-Target -> block of queue/queue.html: the whole view (refresh, filters, Stop), the next
# queued rows ("Load more"), or the older outcomes ("Older outcomes").
FRAGMENTS = {
    "queued-more": "queued_rows",
    "outcomes-more": "outcome_rows",
    "queue-view": "queue_view",
    "*": "queue_view",
}


@bp.before_request
@login_required
def authenticate():
    """The queue needs a signed-in user (any role may look; only managers act)."""


def _render(notice: str | None = None, status: int = 200):
    require("view", current_user)
    flt = fill_queue.parse_filter(request.args, current_user)
    outcome = fill_queue.parse_outcome(request.args.get("outcome"))
    view = fill_queue.queue_view(
        flt,
        request.args.get("before"),
        outcome=outcome,
        outcomes_before=request.args.get("outcomes_before"),
    )
    camera_page = _camera_page()
    html = render_page(
        "queue/queue.html",
        FRAGMENTS,
        view=view,
        flt=flt,
        view_args={**flt.args(), **({"outcome": outcome} if outcome else {})},
        outcomes=FILL_OUTCOMES,
        outcomes_page=fill_queue.RECENT_OUTCOMES,
        sites=sites(current_user),
        cameras=camera_choices(current_user),
        notice=notice,
        gaps_ep=camera_page,
        queued=queued_rows(view.queued.rows, zones_of(view.queued.rows), camera_page, utcnow()),
    )
    return html, status


@bp.get("/queue")
def show_queue():
    """Running fills, the queue in claim order, recent outcomes and workers, filtered."""
    return _render()


@bp.post("/queue/<camera_id>/<gap_id>/stop")
def stop_fill(camera_id: str, gap_id: str):
    """Stop a running fill from the queue (manager+); it keeps what it copied so far."""
    camera = camera_for(current_user, camera_id, "control_fills")
    gap = stop_one(camera, gap_id, current_user)
    db.session.commit()
    notice = (
        f"Stop sent for {camera.name}: the worker ends the fill within seconds and keeps "
        "the footage copied so far."
    )
    if not is_htmx():
        flash(notice)
        return redirect(url_for(".show_queue", **_filter_args()), 303)
    del gap
    return _render(notice)


def _camera_page() -> str:
    """The camera page of this layout: the queue's own links are relative (``.show_queue``,
    /queue or /embed/queue); a camera links to the gaps blueprint of the same layout."""
    return "embed.camera_gaps" if embed_request() else "gaps.camera_gaps"


def _filter_args() -> dict:
    return {k: request.args[k] for k in ("camera", "site", "outcome") if request.args.get(k)}

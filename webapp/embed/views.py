"""Compact embedded pages and the sign-on redirect (minting is in ``api/embed_sessions``)."""

from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import login_required
from flask_login import login_user
from sqlalchemy import delete

from ..domain.embed_tokens import TokenRefused
from ..domain.embed_tokens import redeem
from ..errors import Problem
from ..extensions import db
from ..models import UsedEmbedToken
from ..models import User
from ..models import utcnow
from ..models.user import EMBED_ROLES
from ..pages.gap_pages import camera_page
from ..pages.gap_pages import fleet_page
from ..pages.gap_pages import history_page
from ..pages.gap_pages import watch_page
from ..plumbing.sessions import begin
from ..queue.views import show_queue
from ..queue.views import stop_fill
from . import bp


@bp.get("/start")
def start():
    """Redeem a sign-on token: sign its user in (narrowed to its camera) and go to the page."""
    token = request.args.get("token", "")
    try:
        payload = redeem(token)
    except TokenRefused as exc:
        raise Problem(403, str(exc), "embed_token_refused") from None
    user = db.session.get(User, payload["u"])
    if user is None or not user.active:
        raise Problem(403, "this sign-on link's user is not active", "embed_token_refused")
    # Housekeeping: forget used tokens that could not be replayed anyway.
    db.session.execute(delete(UsedEmbedToken).where(UsedEmbedToken.expires_at < utcnow()))
    db.session.commit()
    session.clear()
    begin(embed=True)
    if payload.get("s") is not None:
        session["embed_scope"] = payload["s"]
    session["embed_role"] = payload.get("r") or EMBED_ROLES[-1]
    session["embed_via"] = payload.get("k")
    login_user(user)
    if payload.get("c"):
        return redirect(url_for(".camera_gaps", camera_id=payload["c"]))
    return redirect(url_for(".fleet"))


@bp.get("/cameras")
@login_required
def fleet():
    """The fleet overview in the compact layout."""
    return fleet_page()


@bp.get("/cameras/<camera_id>/gaps")
@login_required
def camera_gaps(camera_id: str):
    """The camera gap page in the compact layout."""
    return camera_page(camera_id)


@bp.get("/cameras/<camera_id>/gaps/<gap_id>/history")
@login_required
def gap_history(camera_id: str, gap_id: str):
    """A gap's fill history in the compact layout."""
    return history_page(camera_id, gap_id)


@bp.get("/cameras/<camera_id>/gaps/<gap_id>/watch")
@login_required
def gap_watch(camera_id: str, gap_id: str):
    """A gap's footage player in the compact layout."""
    return watch_page(camera_id, gap_id)


@bp.get("/queue")
@login_required
def queue():
    """The fill queue in the compact layout, with the embed session's role and scope."""
    return show_queue()


@bp.post("/queue/<camera_id>/<gap_id>/stop")
@login_required
def queue_stop(camera_id: str, gap_id: str):
    """Stop a running fill from the embedded queue (a manager-role embed session)."""
    return stop_fill(camera_id, gap_id)

"""The sign-on redirect into the embed layout (minting is in ``api/embed_sessions``).

The session-end page is ``auth.embed_session_ended``; the framing policy and the embed cookie are
``plumbing/security.py`` and ``plumbing/sessions.py``.
"""

from flask import redirect
from flask import request
from flask import session
from flask import url_for
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
from ..plumbing.sessions import begin
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
        return redirect(url_for("embed.camera_gaps", camera_id=payload["c"]))
    return redirect(url_for("embed.fleet"))

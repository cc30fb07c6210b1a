"""POST /api/v1/embed-sessions: mint a single-use sign-on URL for the embed layout."""

from flask import jsonify
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from ..domain.audit import record
from ..domain.embed_tokens import MAX_TTL_SECONDS
from ..domain.embed_tokens import mint
from ..domain.principal import camera_for
from ..domain.principal import require
from ..errors import Problem
from ..extensions import db
from ..models import USER_ROLES
from ..models import User
from ..models.user import EMBED_ROLES
from . import bp


@bp.post("/embed-sessions")
def create_embed_session():
    """Mint a single-use sign-on URL for a user (admin or integration key)."""
    require("mint_embed", current_user)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "send a JSON object with username", "invalid_json")
    fields = {}
    username = User.normalise(str(body.get("username") or ""))
    user = None
    if not username:
        fields["username"] = "required"
    else:
        user = db.session.execute(
            select(User).where(User.username == username)
        ).scalar_one_or_none()
        if user is None or not user.active:
            fields["username"] = "no active user with this username"
    camera_id = body.get("camera_id")
    if camera_id is not None and not isinstance(camera_id, str):
        fields["camera_id"] = "must be a camera id"
    ttl = body.get("ttl_seconds", MAX_TTL_SECONDS)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TTL_SECONDS:
        fields["ttl_seconds"] = f"must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}"
    if fields:
        raise Problem(422, "the embed session request is not valid", fields=fields)
    if user.role == "admin" and current_user.role != "admin":
        raise Problem(403, "only an admin may mint an embed session for an admin")
    # The session acts with the user's role capped by the minting key's ceiling (never admin).
    ceiling = getattr(current_user, "embed_role_ceiling", None) or EMBED_ROLES[-1]
    acting = min(user.role, ceiling, key=USER_ROLES.index)
    if camera_id:
        # The minting key must see the camera, and so must the user it signs in.
        camera_for(current_user, camera_id)
        if not user.in_scope(camera_id):
            raise Problem(403, f"user '{username}' may not see camera '{camera_id[:64]}'")
    # The session never sees more than the key that minted it: its scope travels in the token.
    scope = [camera_id] if camera_id else current_user.scope
    token, jti = mint(user.id, camera_id, ttl, scope, role=acting, via=current_user.minter())
    record(
        "embed_session_create",
        "user",
        user.id,
        camera_id=camera_id,
        detail={
            "username": username,
            "camera_id": camera_id,
            "ttl_seconds": ttl,
            "jti": jti,
            "role": acting,
        },
        actor=current_user,
    )
    db.session.commit()
    return jsonify({"url": url_for("embed_signon.start", token=token), "expires_in": ttl}), 201

"""Finding the principal of a request: the session's user, or an API key's bearer token."""

from flask import g
from flask import request
from flask import session
from sqlalchemy import select

from ..extensions import db
from ..extensions import login_manager
from ..models import ApiKey
from ..models import User
from ..models.user import EMBED_ROLES
from ..sessions import expired


@login_manager.user_loader
def load_user(session_id: str):
    """Load the session's user; a stale epoch (rotated at sign-in/out) loads nobody.

    A request that carries a bearer token is that key's alone: its cookie is ignored, so a
    cookie plus any Authorization header can never stand in for the CSRF-checked session.
    """
    if is_bearer_request():
        return None
    user_id, _, epoch = session_id.partition(":")
    user = db.session.get(User, user_id)
    if user is None or str(user.session_epoch) != epoch or not user.active or expired():
        return None
    embedded = bool(session.get("embed"))
    via = session.get("embed_via") if embedded else None
    if embedded and not _minter_still_valid(via):
        return None  # the key was revoked or expired, or the person disabled: the session ends
    # Set every request (the loaded object may be reused): an embed session's scope, role cap
    # and minter; nothing for an ordinary session.
    embed_scope = session.get("embed_scope")
    user.narrowed_to = list(embed_scope) if embed_scope is not None else None
    user.role_ceiling = (session.get("embed_role") or EMBED_ROLES[-1]) if embedded else None
    user.embed_via = via
    return user


def _minter_still_valid(via) -> bool:
    """True while the key or person that minted an embed session may still mint one."""
    if not isinstance(via, dict):
        return False
    if via.get("kind") == "key":
        key = db.session.get(ApiKey, str(via.get("id")))
        return key is not None and key.is_active
    person = db.session.get(User, str(via.get("id")))
    return person is not None and person.active and person.role == "admin"


@login_manager.request_loader
def load_api_key(req):
    """Authenticate ``Authorization: Bearer <token>`` as an API key (no session involved)."""
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    g.bearer_auth = True
    key = db.session.execute(
        select(ApiKey).where(ApiKey.token_sha256 == ApiKey.hash_token(token.strip()))
    ).scalar_one_or_none()
    if key is None or not key.is_active:
        return None
    return key


def is_bearer_request() -> bool:
    """True when the request carries a bearer token (CSRF does not apply to it)."""
    return request.headers.get("Authorization", "").lower().startswith("bearer ")

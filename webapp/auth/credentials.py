"""Finding the principal of a request: the session's user, or an API key's bearer token."""

from flask import g
from flask import request
from flask import session
from sqlalchemy import bindparam
from sqlalchemy import select

from ..extensions import db
from ..extensions import login_manager
from ..models import ApiKey
from ..models import User
from ..models.user import EMBED_ROLES
from ..plumbing.sessions import expired

# Every signed-in request loads its user: the statement is built once (``session.get`` builds
# and keys a new one each time, a tenth of a small JSON answer's time).
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(session_id: str):
    """Load the session's user; a stale epoch (rotated at sign-in/out) loads nobody.

    A request that carries a bearer token is that key's alone: its cookie is ignored, so a
    cookie plus any Authorization header can never stand in for the CSRF-checked session.
    """
    if is_bearer_request():
        return None
    user_id, _, epoch = session_id.partition(":")
    user = db.session.execute(_USER_BY_ID, {"user_id": user_id}).scalar_one_or_none()
    if user is None or str(user.session_epoch) != epoch or not user.active or expired():
        return None
    embedded = bool(session.get("embed"))
    via = session.get("embed_via") if embedded else None
    minter = _live_minter(via) if embedded else None
    if embedded and minter is None:
        return None  # the key was revoked or expired, or the person disabled: the session ends
    # Set every request (the loaded object may be reused): an embed session's scope, role cap
    # and minter; nothing for an ordinary session.
    embed_scope = session.get("embed_scope")
    if minter is not None and minter.camera_scope is not None:
        # Never more than the minter sees today: a narrowed key or admin narrows the session.
        allowed = minter.camera_scope
        embed_scope = [c for c in (allowed if embed_scope is None else embed_scope) if c in allowed]
    user.narrowed_to = list(embed_scope) if embed_scope is not None else None
    user.role_ceiling = (session.get("embed_role") or EMBED_ROLES[-1]) if embedded else None
    user.embed_via = via
    return user


def _live_minter(via) -> ApiKey | User | None:
    """The key or person that minted an embed session while it may still mint one, else None."""
    if not isinstance(via, dict):
        return None
    if via.get("kind") == "key":
        key = db.session.get(ApiKey, str(via.get("id")))
        return key if key is not None and key.is_active else None
    person = db.session.get(User, str(via.get("id")))
    return person if person is not None and person.active and person.role == "admin" else None


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

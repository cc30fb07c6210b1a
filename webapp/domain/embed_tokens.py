"""Embed sign-on tokens: signed, short-lived and single-use."""

import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import UsedEmbedToken
from ..models import utcnow

MAX_TTL_SECONDS = 300
SALT = "replenish-embed-session"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def mint(
    user_id: str,
    camera_id: str | None,
    ttl_seconds: int,
    scope: list | None,
    role: str,
    via: dict | None = None,
) -> tuple[str, str]:
    """A token that signs ``user_id`` in once within ``ttl_seconds``, narrowed to ``scope``.

    The session acts as ``role`` at most; ``via`` is the minter's ``Principal.minter()``: it
    names the key or person in every audit row and is re-checked on each request (revocation).
    Returns (token, jti).
    """
    jti = secrets.token_urlsafe(16)
    expires = int((utcnow() + timedelta(seconds=ttl_seconds)).timestamp())
    payload = {
        "u": user_id,
        "c": camera_id,
        "s": scope,
        "r": role,
        "k": via,
        "exp": expires,
        "jti": jti,
    }
    return _serializer().dumps(payload), jti


class TokenRefused(Exception):
    """The token is forged, expired or already used."""


def redeem(token: str) -> dict:
    """Check and consume a token; raises TokenRefused. The caller commits the use record."""
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise TokenRefused("this sign-on link is not valid") from None
    now = utcnow()
    if not isinstance(payload, dict) or payload.get("exp", 0) < now.timestamp():
        raise TokenRefused("this sign-on link has expired; ask the console for a new one")
    db.session.add(
        UsedEmbedToken(
            jti=payload["jti"],
            expires_at=now + timedelta(seconds=MAX_TTL_SECONDS),
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise TokenRefused("this sign-on link was already used") from None
    return payload

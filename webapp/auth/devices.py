"""The signed "known device" cookie: a browser that signed in to a username before.

The sign-in throttle (``domain/throttle.py``) counts such a browser's attempts on its own key,
so guesses for the username from anywhere else never lock its owner out. The cookie is signed
with ``SECRET_KEY``, names the username, is sent only to the sign-in form, and lasts
``KNOWN_DEVICE_DAYS``.
"""

import secrets

from flask import current_app
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

COOKIE = "replenish_device"
KNOWN_DEVICE_DAYS = 180
_SALT = "replenish-known-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def known_device(username: str) -> str | None:
    """The device id of this browser's cookie if it is valid and names ``username``."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        payload = _serializer().loads(raw, max_age=KNOWN_DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("u") != username:
        return None
    device = payload.get("d")
    return device if isinstance(device, str) and device else None


def remember_device(resp, username: str, device: str | None) -> None:
    """Set (or renew) the cookie on a successful sign-in's answer."""
    value = _serializer().dumps({"u": username, "d": device or secrets.token_urlsafe(16)})
    resp.set_cookie(
        COOKIE,
        value,
        max_age=KNOWN_DEVICE_DAYS * 86400,
        path="/login",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )

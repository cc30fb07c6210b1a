"""Session cookies: Lax and HttpOnly normally; SameSite=None, Secure, Partitioned when embedded.

Every session has a bounded lifetime counted from sign-in, not from the last request:
``SESSION_LIFETIME_HOURS`` (Flask's ``PERMANENT_SESSION_LIFETIME``, the cookie's expiry) and
``EMBED_SESSION_MINUTES`` for an embed session. The user loader refuses an older one.
"""

import time
from datetime import datetime
from datetime import timezone

from flask import current_app
from flask import session
from flask.sessions import SecureCookieSessionInterface

from .security import embed_request


def begin(embed: bool = False) -> None:
    """Start the lifetime of a freshly signed-in session (after ``session.clear()``)."""
    session.permanent = True
    session["since"] = int(time.time())
    if embed:
        session["embed"] = True


def _lifetime_s(app, data) -> int:
    if data.get("embed"):
        return int(app.config["EMBED_SESSION_MINUTES"]) * 60
    return int(app.permanent_session_lifetime.total_seconds())


def expired() -> bool:
    """True when this session's sign-in is older than its lifetime (or carries no start)."""
    since = session.get("since")
    if not isinstance(since, int):
        return True
    return time.time() >= since + _lifetime_s(current_app, session)


def _embedded() -> bool:
    return session.get("embed") is True or embed_request()


class EmbedAwareSessionInterface(SecureCookieSessionInterface):
    """A third-party iframe only gets its cookie back with SameSite=None; Secure; Partitioned."""

    def get_cookie_samesite(self, app):
        return "None" if _embedded() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app):
        return True if _embedded() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app):
        return True if _embedded() else super().get_cookie_partitioned(app)

    def get_expiration_time(self, app, session):
        """The cookie dies when its session's lifetime ends, counted from sign-in."""
        since = session.get("since")
        if not session.permanent or not isinstance(since, int):
            return super().get_expiration_time(app, session)
        return datetime.fromtimestamp(since + _lifetime_s(app, session), timezone.utc)

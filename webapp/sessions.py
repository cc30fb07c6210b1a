"""Session cookies: Lax and HttpOnly normally; SameSite=None, Secure, Partitioned when embedded."""

from flask import request
from flask import session
from flask.sessions import SecureCookieSessionInterface


def _embedded() -> bool:
    return session.get("embed") is True or request.path.startswith("/embed/")


class EmbedAwareSessionInterface(SecureCookieSessionInterface):
    """A third-party iframe only gets its cookie back with SameSite=None; Secure; Partitioned."""

    def get_cookie_samesite(self, app):
        return "None" if _embedded() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app):
        return True if _embedded() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app):
        return True if _embedded() else super().get_cookie_partitioned(app)

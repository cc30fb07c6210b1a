"""Security headers and the framing policy of the embed pages (docs/design.md, "Security")."""

from flask import current_app
from flask import g
from flask import request


def embed_request() -> bool:
    """True for a request under ``/embed/``: the embed layout and its sign-on and session end.

    The embed layout is the gaps and queue blueprints registered a second time under ``/embed``
    (``webapp.register_blueprints``), so the path prefix covers both registrations; the framing
    policy, the session cookie's kind, the compact base template and the in-frame session end
    all key on it.
    """
    return request.path.startswith("/embed/")


def embed_origins() -> list[str]:
    """Origins allowed to frame the /embed pages (``ANR_EMBED_ORIGINS``, space-separated)."""
    return current_app.config.get("ANR_EMBED_ORIGINS", "").split()


def apply_security_headers(resp):
    """Add CSP, nosniff, referrer policy and ``Vary: HX-Request`` to a response."""
    ancestors = "'self'"
    if embed_request() and embed_origins():
        ancestors = "'self' " + " ".join(embed_origins())
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors {ancestors}",
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    if ancestors == "'self'":
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.vary.add("HX-Request")
    if getattr(g, "bearer_auth", False):
        resp.vary.add("Authorization")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp

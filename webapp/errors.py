"""Errors answered three ways: JSON for the API, an inline fragment for htmx, a page otherwise."""

import logging

from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from flask_login import current_user
from sqlalchemy.exc import DataError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import Unauthorized

from .domain import errors as domain
from .extensions import db
from .extensions import login_manager

log = logging.getLogger(__name__)

SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not permitted",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Check the form",
    429: "Slow down",
    500: "Something went wrong",
    503: "Busy",
}


class Problem(HTTPException):
    """An HTTP error with a human message, a machine ``slug`` and optional per-field messages."""

    code: int  # always given, unlike a bare HTTPException's

    def __init__(self, status: int, message: str, slug: str | None = None, fields=None):
        super().__init__(description=message)
        self.code = status
        self.slug = slug or SLUGS.get(status, "error")
        self.fields = fields


# The one place a domain error becomes an HTTP status (webapp/domain/errors.py).
DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.BadParameter: 400,
    domain.Unauthenticated: 401,
    domain.NotPermitted: 403,
    domain.OutOfScope: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Invalid: 422,
}


def status_of(exc: domain.DomainError) -> int:
    """The HTTP status a domain error answers with (the nearest mapped class; 400 otherwise)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def as_http(exc: domain.DomainError) -> HTTPException:
    """The HTTP error of a domain error: its status, message, slug and fields unchanged."""
    if isinstance(exc, domain.Unauthenticated):
        return Unauthorized()  # werkzeug's own words, as ``abort(401)`` gave
    return Problem(status_of(exc), exc.message, exc.slug, exc.fields)


def wants_json() -> bool:
    """True for API routes and clients that ask for JSON rather than HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, message: str, slug: str | None = None, fields=None):
    """Render one error for whoever asked: JSON, htmx fragment, or a full page."""
    slug = slug or SLUGS.get(status, "error")
    if wants_json():
        body = {"error": message, "code": slug}
        if fields:
            body["fields"] = fields
        resp = jsonify(body)
        resp.status_code = status
    elif request.headers.get("HX-Request"):
        html = render_template("errors/_inline.html", status=status, message=message)
        resp = make_response(html, status)
        # htmx does not swap 4xx/5xx by default; the page's message area shows it instead.
        resp.headers["HX-Retarget"] = "#messages"
        resp.headers["HX-Reswap"] = "innerHTML"
    else:
        html = render_template(
            "errors/page.html",
            status=status,
            title=TITLES.get(status, "Error"),
            message=message,
            fields=fields,
        )
        resp = make_response(html, status)
    if status == 401 and wants_json():
        resp.headers["WWW-Authenticate"] = 'Bearer realm="replenish"'
    return resp


# An address the site has no page for, in the site's words (werkzeug's speak of "the server").
NOT_FOUND_WORDS = (
    "There is no page at this address. The link may be old, or the camera may have been "
    "removed; the camera list has everything you may see."
)
RETRY_AFTER_BUSY_S = 2  # a lock is usually gone within the busy timeout
RETRY_AFTER_DOWN_S = 5  # a database that is down or gone takes longer to come back
PLAIN_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>{status} {title}</title>"
    "<h1>{title}</h1><p>{message}</p></html>"
)


def rollback_quietly() -> None:
    """Roll the request's session back; a connection the server dropped cannot raise from here.

    A rollback on a terminated PostgreSQL connection raises; the session then forgets the
    connection (invalidated, not returned to the pool) so the next request starts clean.
    """
    try:
        db.session.rollback()
    except Exception:  # the connection is already gone; nothing left to roll back
        log.debug("rollback after a database failure failed", exc_info=True)
        try:
            db.session().invalidate()
        except Exception:
            log.debug("invalidating the session's connection failed", exc_info=True)


def remove_session_quietly(_exc=None) -> None:
    """The app-context teardown: end the request's session without ever raising (503, not 500)."""
    try:
        db.session.remove()
    except Exception:
        log.warning("closing a session whose connection was dropped", exc_info=True)
        try:
            db.session().invalidate()
        except Exception:
            log.debug("invalidating the session's connection failed", exc_info=True)
        db.session.registry.clear()


def database_unavailable(exc: Exception):
    """503 + Retry-After for a database that is locked, stopped or gone, whatever the route.

    The page is plain HTML: the site layout asks the database who is signed in.
    """
    rollback_quietly()
    text = str(getattr(exc, "orig", None) or exc).lower()
    retry_after = RETRY_AFTER_BUSY_S
    if "locked" in text or "busy" in text or "could not obtain lock" in text:
        message, slug = "the database is busy; try again in a moment", "db_busy"
    else:
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
        message, slug = "the database cannot be reached; try again in a moment", "db_unavailable"
        retry_after = RETRY_AFTER_DOWN_S
    if wants_json() or request.headers.get("HX-Request"):
        resp = jsonify({"error": message, "code": slug})
        resp.status_code = 503
    else:
        html = PLAIN_PAGE.format(status=503, title="Temporarily unavailable", message=message)
        resp = make_response(html, 503)
        resp.mimetype = "text/html"
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def register_errorhandlers(app) -> None:
    """Install the handlers for HTTP errors, a busy database and unexpected failures."""
    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (teardowns run in
    # reverse): the session is gone quietly before that one's ``remove`` could raise.
    app.teardown_appcontext(remove_session_quietly)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        rollback_quietly()
        slug = getattr(exc, "slug", None)
        if slug is None and exc.__class__.__name__ == "CSRFError":
            slug = "csrf_failed"
            # An expired session loses its CSRF token too: send the operator to sign in again
            # (HX-Redirect for htmx) rather than show a token error they cannot act on.
            if not wants_json() and not current_user.is_authenticated:
                return login_manager.unauthorized()
        message = exc.description or (TITLES.get(exc.code, "Error") if exc.code else "Error")
        if exc.description == NotFound.description:  # the router's words, not a named miss
            message = NOT_FOUND_WORDS
        try:
            resp = error_response(exc.code or 500, message, slug, getattr(exc, "fields", None))
        except (OperationalError, InterfaceError) as db_exc:  # the error page's layout needs it
            return database_unavailable(db_exc)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(domain.DomainError)
    def handle_domain(exc: domain.DomainError):
        return handle_http(as_http(exc))

    @app.errorhandler(DataError)
    def handle_bad_value(exc: DataError):
        # A value the database cannot store (a NUL in JSON text, an out-of-range number).
        rollback_quietly()
        return error_response(400, "a value in the request cannot be stored", "invalid_value")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_db_unavailable(exc: DBAPIError):
        return database_unavailable(exc)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        if isinstance(exc.__cause__ or exc.__context__, OperationalError | InterfaceError):
            return database_unavailable(exc)
        rollback_quietly()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "the server failed to complete the request")

"""Errors answered three ways: JSON for the API, an inline fragment for htmx, a page otherwise."""

import logging

from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from flask_login import current_user
from sqlalchemy.exc import DataError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db

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
    422: "Check the form",
    500: "Something went wrong",
    503: "Busy",
}


class Problem(HTTPException):
    """An HTTP error with a human message, a machine ``slug`` and optional per-field messages."""

    def __init__(self, status: int, message: str, slug: str | None = None, fields=None):
        super().__init__(description=message)
        self.code = status
        self.slug = slug or SLUGS.get(status, "error")
        self.fields = fields


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


def register_errorhandlers(app) -> None:
    """Install the handlers for HTTP errors, a busy database and unexpected failures."""

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        db.session.rollback()
        slug = getattr(exc, "slug", None)
        if slug is None and exc.__class__.__name__ == "CSRFError":
            slug = "csrf_failed"
            # An expired session loses its CSRF token too: send the operator to sign in again
            # (HX-Redirect for htmx) rather than show a token error they cannot act on.
            if not wants_json() and not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
        message = exc.description or TITLES.get(exc.code, "Error")
        resp = error_response(exc.code or 500, message, slug, getattr(exc, "fields", None))
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(DataError)
    def handle_bad_value(exc: DataError):
        # A value the database cannot store (a NUL in JSON text, an out-of-range number).
        db.session.rollback()
        return error_response(400, "a value in the request cannot be stored", "invalid_value")

    @app.errorhandler(OperationalError)
    def handle_db_busy(exc: OperationalError):
        db.session.rollback()
        text = str(exc.orig).lower() if exc.orig else ""
        if "locked" in text or "busy" in text or "could not obtain lock" in text:
            resp = error_response(503, "the database is busy; try again in a moment", "db_busy")
            resp.headers["Retry-After"] = "2"
            return resp
        log.exception("database error")
        return error_response(500, "the server failed to complete the request")

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "the server failed to complete the request")

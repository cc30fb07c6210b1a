"""What an unauthenticated request gets: JSON 401, an htmx redirect, or the login page."""

from urllib.parse import urlsplit

from flask import make_response
from flask import redirect
from flask import request
from flask import url_for

from ..errors import error_response
from ..errors import wants_json


def install(login_manager) -> None:
    """Register the unauthorized handler on Flask-Login."""

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return error_response(401, "sign in or send an API key as a bearer token")
        next_path = request.full_path if request.query_string else request.path
        if request.headers.get("HX-Request"):
            # Never a 302: htmx would follow it and swap the login page into a table cell.
            # Send the page the operator is on, not the fragment URL, as where to come back.
            current = request.headers.get("HX-Current-URL", "")
            parts = urlsplit(current)
            back = parts.path + (f"?{parts.query}" if parts.query else "") if parts.path else "/"
            resp = make_response("", 401)
            resp.headers["HX-Redirect"] = url_for("auth.login_form", next=back)
            return resp
        return redirect(url_for("auth.login_form", next=next_path))

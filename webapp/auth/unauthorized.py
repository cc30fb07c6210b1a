"""What an unauthenticated request gets: JSON 401, an htmx redirect, or the login page."""

from urllib.parse import urlsplit

from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..errors import error_response
from ..errors import wants_json
from ..plumbing.security import embed_request

# An operator's action that arrives after their session ended is not done; the login page and
# the page after sign-in say which one ("your Retry was not done"). Endpoint -> the action's name,
# on the site and in the embed (the gaps and queue blueprints are registered twice).
_GAP_ACTIONS = {
    "retry_gap_row": "Retry",
    "stop_gap_row": "Stop",
    "retry_failed_page": "Retry all",
    "retry_selected_page": "Retry selected",
    "queue_window_page": "window request",
}
LOST_ACTIONS = {
    **{f"{bp}.{view}": name for bp in ("gaps", "embed") for view, name in _GAP_ACTIONS.items()},
    "queue.stop_fill": "Stop",
    "embed_queue.stop_fill": "Stop",
}


def lost_action(raw: str | None) -> str | None:
    """The name of a lost action from the login URL, only when it is one of ours."""
    return raw if raw in LOST_ACTIONS.values() else None


def _page_path(url: str) -> str | None:
    parts = urlsplit(url or "")
    if not parts.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def install(login_manager) -> None:
    """Register the unauthorized handler on Flask-Login."""

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return error_response(401, "sign in or send an API key as a bearer token")
        next_path = request.full_path if request.query_string else request.path
        lost = LOST_ACTIONS.get(request.endpoint) if request.method == "POST" else None
        if embed_request():
            # In a console's frame (an embed page, or one of its actions: they post under /embed
            # too): the sign-in page cannot be framed, so the frame says the session ended and
            # tells its parent (templates/embed/ended.html).
            if request.headers.get("HX-Request"):
                resp = make_response("", 401)
                resp.headers["HX-Redirect"] = url_for("auth.embed_session_ended", lost=lost)
                return resp
            return make_response(render_template("embed/ended.html", lost=lost), 401)
        if request.headers.get("HX-Request"):
            # Never a 302: htmx would follow it and swap the login page into a table cell.
            # Send the page the operator is on, not the fragment URL, as where to come back.
            back = _page_path(request.headers.get("HX-Current-URL", "")) or "/"
            resp = make_response("", 401)
            resp.headers["HX-Redirect"] = url_for("auth.login_form", next=back, lost=lost)
            return resp
        if request.method == "POST":
            # A plain form post cannot be repeated by a redirect: come back to the page it was on.
            next_path = _page_path(request.referrer or "") or "/"
        return redirect(url_for("auth.login_form", next=next_path, lost=lost))

"""``make run``'s gunicorn access log without the pages' polling (it buried the logins).

A page's poll is an htmx GET whose element refreshes itself (``HX-Trigger`` is the id of its
own ``HX-Target``); a tab, a link or a button names another element, so those stay logged.
"""

from .accesslog import RedactingGunicornLogger


def is_poll(environ) -> bool:
    """True for an htmx self-refresh (``#gap-view``, ``#fleet``, ``#queue-view`` polling)."""
    trigger = environ.get("HTTP_HX_TRIGGER")
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and environ.get("HTTP_HX_REQUEST") == "true"
        and bool(trigger)
        and trigger == environ.get("HTTP_HX_TARGET")
    )


class QuietPollLogger(RedactingGunicornLogger):
    """gunicorn's logger, tokens redacted, leaving polling requests out of the access log."""

    def access(self, resp, req, environ, request_time):
        if not is_poll(environ):
            super().access(resp, req, environ, request_time)

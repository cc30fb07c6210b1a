"""Access logs that never hold a sign-on token: Werkzeug's request lines and gunicorn's.

An embed sign-on URL carries its single-use token in the query string (``/embed/start?token=``);
a log line is kept longer and read by more people than the token's five minutes warrant. The
value of every ``token`` parameter is replaced before a line is written.
"""

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger  # type: ignore[import-untyped]

_TOKEN = re.compile(r"((?:^|[?&;\s])token=)[^&;\s\"']+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of each ``token=`` query parameter replaced."""
    return _TOKEN.sub(r"\1" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter for Werkzeug's request lines (``flask run``, the test servers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = redact(message), None
        return True


def install() -> None:
    """Filter Werkzeug's request log (idempotent)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger (``--logger-class webapp.plumbing.accesslog.RedactingGunicornLogger``)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

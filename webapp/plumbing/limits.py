"""Request limits checked before anything reads a body: size, form parts, JSON depth, proxies.

A body bigger than ``MAX_CONTENT_LENGTH`` is refused from its ``Content-Length`` alone (413),
before the NUL-byte and CSRF hooks or a view could parse it; a body without a length is cut off by
Werkzeug's limited stream at the same size. Form parsing is bounded by ``MAX_FORM_MEMORY_SIZE`` and
``MAX_FORM_PARTS``, and JSON deeper than ``MAX_JSON_DEPTH`` is a 400 rather than a recursion error.
"""

import json
import re

import orjson
from flask import Flask
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from ..errors import Problem

# Text no column may hold: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8 at all).
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def check_document(doc, limit: int) -> None:
    """Refuse a parsed document nested deeper than ``limit`` or holding text that is not text.

    One walk over the values the decoder built (an explicit stack, no recursion), so the cost is
    linear in the body's size whatever its shape. Raises ``Problem`` (400).
    """
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _NOT_TEXT.search(value):
                raise Problem(400, "the JSON holds a NUL or a lone surrogate", "invalid_characters")
        elif isinstance(value, dict | list):
            if depth > limit:
                raise Problem(400, f"JSON nested deeper than {limit} levels", "too_deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))


# What Flask's ``default`` formats its own way (a datetime as an HTTP date) reaches it unchanged.
_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class DepthLimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than ``MAX_JSON_DEPTH`` or not text (400),
    and writing answers with orjson (``response``).

    The standard library's C decoder parses in linear time; nesting deep enough to exhaust its
    recursion guard is an error there, and the rest is checked on what it built. A ``Problem``
    is not a ``ValueError``, so it reaches the error handler even through ``get_json(silent=True)``:
    every JSON body of every route gets the same clear 400 from this one place.
    """

    sort_keys = False  # keep the documented field order of gap objects

    def response(self, *args, **kwargs):
        """Answers are encoded by orjson, 15 times faster than ``json`` on a 500-gap list (a
        fifth of that request's time); the output is the same JSON (compact, or indented by 2
        in debug). Times, dates and dataclasses still go through Flask's ``default``; anything
        orjson refuses (an integer past 64 bits, a non-string key) takes Flask's own encoder."""
        obj = self._prepare_response_obj(args, kwargs)
        indent = (self.compact is None and self._app.debug) or self.compact is False
        try:
            body = orjson.dumps(
                obj, default=self.default, option=_ORJSON | (orjson.OPT_INDENT_2 if indent else 0)
            )
        except orjson.JSONEncodeError:
            return super().response(obj)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)

    def loads(self, s, **kwargs):
        limit = self._app.config["MAX_JSON_DEPTH"]
        try:
            doc = json.loads(s, **kwargs)
        except RecursionError:
            raise Problem(400, f"JSON nested deeper than {limit} levels", "too_deep") from None
        except UnicodeDecodeError:
            raise Problem(400, "the JSON body is not UTF-8 text", "invalid_characters") from None
        check_document(doc, limit)
        return doc


def install(app: Flask) -> None:
    """The JSON depth limit, the proxy setting and the size check (the first hook).

    The limits themselves are settings (``config.SECURITY_DEFAULTS``); Flask and Werkzeug apply
    ``MAX_FORM_MEMORY_SIZE`` and ``MAX_FORM_PARTS`` when a form is parsed.
    """
    app.json = DepthLimitedJSONProvider(app)
    proxies = int(app.config["TRUSTED_PROXIES"] or 0)
    if proxies > 0:
        # Only as many X-Forwarded-For hops as there are proxies we run are believed; a client
        # cannot pick its own address for the sign-in throttle or the audit log.
        # Wrapping wsgi_app is how Flask's docs install middleware; mypy sees a method there.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0
        )

    def refuse_large_body():
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes; send less")
        if request.mimetype == "application/x-www-form-urlencoded":
            # Werkzeug applies MAX_FORM_PARTS to multipart forms only; count the fields of an
            # url-encoded one from its bytes (already bounded above) before anything splits it.
            parts = request.get_data(cache=True).count(b"&") + 1
            if parts > app.config["MAX_FORM_PARTS"]:
                raise RequestEntityTooLarge(
                    f"the form has more than {app.config['MAX_FORM_PARTS']} fields"
                )

    # First of all before-request hooks: nothing may have parsed the body yet.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_large_body)

"""Request limits checked before anything reads a body: size, form parts, JSON depth, proxies.

A body bigger than ``MAX_CONTENT_LENGTH`` is refused from its ``Content-Length`` alone (413),
before the NUL-byte and CSRF hooks or a view could parse it; a body without a length is cut off by
Werkzeug's limited stream at the same size. Form parsing is bounded by ``MAX_FORM_MEMORY_SIZE`` and
``MAX_FORM_PARTS``, and JSON deeper than ``MAX_JSON_DEPTH`` is a 400 rather than a recursion error.
"""

import re

from flask import Flask
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

# Strings are dropped before counting brackets, so a "[" inside a string does not count.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(data: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (its brackets, strings ignored)."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= 1:
        return raw.count(b"[") + raw.count(b"{")
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw))
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class DepthLimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than ``MAX_JSON_DEPTH`` (400)."""

    sort_keys = False  # keep the documented field order of gap objects

    def loads(self, s, **kwargs):
        limit = self._app.config["MAX_JSON_DEPTH"]
        if json_depth(s) > limit:
            raise ValueError(f"JSON nested deeper than {limit} levels")
        return super().loads(s, **kwargs)


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
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0)

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

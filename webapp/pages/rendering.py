"""One view, two answers: the whole page, or a named block of it for an htmx request."""

from flask import render_template
from flask import request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment.

    A history restore (Back with an empty htmx cache) and a boosted navigation replace the whole
    page, so they get the whole page.
    """
    headers = request.headers
    return bool(headers.get("HX-Request")) and not (
        headers.get("HX-History-Restore-Request") or headers.get("HX-Boosted")
    )


def render_page(template: str, fragments: dict[str, str] | None = None, **context):
    """Render ``template``; for htmx, the block named for the request's ``HX-Target``.

    ``fragments`` maps an element id (``HX-Target``) to the block that renders it; ``"*"`` is the
    block for any other htmx request. A request with no matching block gets the whole page.
    """
    if fragments and is_htmx():
        target = request.headers.get("HX-Target", "")
        block = fragments.get(target) or fragments.get("*")
        if block:
            return render_block(template, block, **context)
    return render_template(template, **context)

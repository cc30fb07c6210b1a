"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of the JSON API.

The document is data: ``openapi.json`` beside this module, edited by hand when a route changes.
It is read once, when the blueprint is imported (a broken file stops the app at start, not at
the first request), and served as it is. ``tests/api/test_openapi.py`` keeps it true: it
validates as OpenAPI 3.1 (openapi-spec-validator), names every ``/api/v1`` route with its
methods and nothing else, its enumerations (gap states, fill outcomes and methods, recording
statuses, job states) equal the domain's vocabularies, which stay written out in the file, and
real answers of the routes are what their documented responses say.
"""

import json
from typing import Any

from flask import jsonify

from . import bp

with bp.open_resource("openapi.json") as _file:
    _DOCUMENT: dict[str, Any] = json.load(_file)


def document() -> dict[str, Any]:
    """The document as read from ``openapi.json`` (shared: read it, never change it)."""
    return _DOCUMENT


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI document (signed-in principals only, like the rest of the API)."""
    return jsonify(document())

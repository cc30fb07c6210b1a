"""The OpenAPI document (webapp/api/openapi.json): valid OpenAPI 3.1, true to the routes."""

import re

from openapi_spec_validator import OpenAPIV31SpecValidator

from webapp.api.openapi import document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
FLASK_ONLY = {"HEAD", "OPTIONS"}  # Flask adds these to every route; the document leaves them out


def _openapi_path(rule: str) -> str:
    """``/cameras/<camera_id>`` (or ``<string:camera_id>``) as OpenAPI writes it."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []


def test_every_api_route_is_documented_with_its_methods_and_nothing_else(app):
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - FLASK_ONLY
    }
    documented = {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert routes, "no /api/v1 route found"
    assert sorted(routes - documented) == [], "routes the document does not describe"
    assert sorted(documented - routes) == [], "documented operations no route answers"


def test_the_served_document_is_the_file(login_as):
    resp = login_as("viewer").get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.json == document()

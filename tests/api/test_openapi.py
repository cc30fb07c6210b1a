"""The OpenAPI document (webapp/api/openapi.json): valid OpenAPI 3.1, true to the routes."""

import re

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from webapp.anr.download import DownloadJob
from webapp.anr.fill import FillJob
from webapp.anr.onvif_replay import OnvifReplayJob
from webapp.api.openapi import document
from webapp.domain.states import FILL_OUTCOMES
from webapp.domain.states import FILL_STATES
from webapp.domain.states import RECORDING_STATUSES
from webapp.models import JOB_STATES

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


# The document writes the domain's vocabularies out; each place, by JSON pointer, and the
# vocabulary it must equal, in the same order. A new state, outcome or status fails here until the
# document names it.
SCHEMA_ENUMS = [
    ("/components/schemas/RecordingGap/properties/fill_state/enum", list(FILL_STATES)),
    ("/components/schemas/Camera/properties/recording_status/enum", list(RECORDING_STATUSES)),
    ("/components/schemas/Job/properties/state/enum", list(JOB_STATES)),
    # A run still going is answered as "running" (fill_queue.run_history).
    ("/components/schemas/FillRun/properties/outcome/enum", ["running", *FILL_OUTCOMES]),
    # What fetched the footage: each fill job's ``method`` (the fill history records it).
    (
        "/components/schemas/FillRun/properties/method/enum",
        [FillJob.method, DownloadJob.method, OnvifReplayJob.method],
    ),
]
# Query parameters that take a vocabulary: (path, method, parameter name, vocabulary).
PARAMETER_ENUMS = [
    ("/api/v1/cameras/{camera_id}/recording-gaps", "get", "state", list(FILL_STATES)),
    ("/api/v1/queue", "get", "outcome", list(FILL_OUTCOMES)),
]


def _at(doc, pointer: str):
    """The value at a JSON pointer (RFC 6901)."""
    value = doc
    for token in pointer.lstrip("/").split("/"):
        value = value[token.replace("~1", "/").replace("~0", "~")]
    return value


@pytest.mark.parametrize(("pointer", "vocabulary"), SCHEMA_ENUMS, ids=[p for p, _ in SCHEMA_ENUMS])
def test_schema_enumerations_are_the_domain_vocabularies(pointer, vocabulary):
    assert _at(document(), pointer) == vocabulary


@pytest.mark.parametrize(("path", "method", "name", "vocabulary"), PARAMETER_ENUMS)
def test_parameter_enumerations_are_the_domain_vocabularies(path, method, name, vocabulary):
    params = document()["paths"][path][method]["parameters"]
    (param,) = [p for p in params if p["name"] == name and p["in"] == "query"]
    assert param["schema"]["enum"] == vocabulary


def test_a_camera_counts_every_gap_state():
    counts = _at(document(), "/components/schemas/Camera/properties/counts/properties")
    assert list(counts) == list(FILL_STATES)

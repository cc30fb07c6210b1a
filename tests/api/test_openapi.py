"""The OpenAPI document (webapp/api/openapi.json): valid OpenAPI 3.1, true to the routes."""

import re
from datetime import timedelta

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_schema_validator import oas31_format_checker
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_running_fill
from webapp.anr.download import DownloadJob
from webapp.anr.fill import FillJob
from webapp.anr.onvif_replay import OnvifReplayJob
from webapp.api.openapi import document
from webapp.domain.segments import add_segment
from webapp.domain.states import FILL_OUTCOMES
from webapp.domain.states import FILL_STATES
from webapp.domain.states import RECORDING_STATUSES
from webapp.models import JOB_STATES
from webapp.models import FillRun
from webapp.models import Segment
from webapp.models import WorkerHeartbeat
from webapp.models import rfc3339
from webapp.models import utcnow

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


# Answers checked against the document: validated by its schema (types, enums, RFC 3339 times)
# and without a field the document does not name. openapi-schema-validator comes with
# openapi-spec-validator; the document is one resource, so its own "#/components/..." refs resolve.
URI = "urn:replenish:openapi"


def _pointer(*tokens: str) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = _at(document(), schema["$ref"].removeprefix("#"))
    return schema


def _undocumented(schema: dict, value, where: str = "$") -> list[str]:
    """Fields of ``value`` that ``schema`` (refs and allOf followed) does not name."""
    schema = _resolve(schema)
    if isinstance(value, list) and "items" in schema:
        return [
            f
            for i, v in enumerate(value)
            for f in _undocumented(schema["items"], v, f"{where}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    named: dict = {}
    for part in [schema, *map(_resolve, schema.get("allOf", []))]:
        named.update(part.get("properties", {}))
    if not named:  # a free-form object
        return []
    return [
        field
        for key, v in value.items()
        for field in (
            [f"{where}.{key}"]
            if key not in named
            else _undocumented(named[key], v, f"{where}.{key}")
        )
    ]


def _problems(path: str, method: str, resp) -> list[str]:
    """What is wrong with ``resp`` as the document's answer to ``method path``."""
    pointer = _pointer("paths", path, method, "responses", str(resp.status_code))
    answer = _at(document(), pointer)
    if "$ref" in answer:
        pointer = answer["$ref"].removeprefix("#")
    pointer += _pointer("content", resp.mimetype, "schema")
    registry = Registry().with_resource(URI, Resource(document(), DRAFT202012))
    validator = OAS31Validator(
        {"$ref": f"{URI}#{pointer}"}, registry=registry, format_checker=oas31_format_checker
    )
    invalid = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(resp.json)]
    return invalid + [
        f"{f}: not in the document" for f in _undocumented(_at(document(), pointer), resp.json)
    ]


def test_answers_are_what_the_document_says(login_as, db):
    now = utcnow()
    make_camera("cam1")
    failed = make_gap("cam1", now - timedelta(hours=3), 60, state="failed", last_error="no")
    filled = make_gap("cam1", now - timedelta(hours=4), 60, state="filled")
    start = filled.gap_start - timedelta(minutes=5)  # the archive file that holds it
    add_segment(
        Segment(
            camera_id="cam1", path=f"{start:%Y%m%d_%H%M%S}.mp4", start_time=start,
            end_time=start + timedelta(minutes=10), duration_s=600.0, size_bytes=1, sha256="0" * 64,
        )
    )  # fmt: skip
    running = make_running_fill("cam1", now)
    db.session.add(WorkerHeartbeat(worker_id="w1", seen_at=now, running=1, concurrency=2))
    db.session.add(
        FillRun(
            gap_id=filled.id, camera_id="cam1", worker_id="w1", method="onvif-replay",
            started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=2),
            outcome="expired", recovered_seconds=0.0,
        )
    )  # fmt: skip
    db.session.commit()
    admin = login_as("admin")
    gaps = "/api/v1/cameras/{camera_id}/recording-gaps"
    cam = {"camera_id": "cam1"}
    window = {
        "gap_start": rfc3339(now - timedelta(hours=9)),
        "gap_end": rfc3339(now - timedelta(hours=8)),
    }
    asked = [  # reads first, then writes: (method, path, its parameters, the body)
        ("get", "/api/v1/cameras", {}, None),
        ("get", "/api/v1/queue", {}, None),
        ("get", gaps, cam, None),
        ("get", gaps + "/{gap_id}/runs", {**cam, "gap_id": running.id}, None),  # a run going on
        ("get", gaps + "/{gap_id}/runs", {**cam, "gap_id": filled.id}, None),  # and one ended
        ("get", gaps + "/{gap_id}/footage", {**cam, "gap_id": filled.id}, None),
        ("get", "/api/v1/cameras/{camera_id}/gaps", cam, None),
        ("get", gaps, {"camera_id": "nope"}, None),  # an error answer
        ("post", gaps, cam, {**window, "manual": True}),
        ("post", gaps + "/{gap_id}/retry", {**cam, "gap_id": failed.id}, None),
        ("post", gaps + "/retry-selected", cam, {"gap_ids": [failed.id, filled.id]}),
        ("post", gaps + "/retry-failed", cam, None),
        ("post", gaps + "/{gap_id}/stop", {**cam, "gap_id": filled.id}, None),  # a 409
    ]
    answers = {}
    for method, path, params, body in asked:
        url = path.format(**params)
        resp = getattr(admin, method)(url, json=body)
        answers[f"{method} {url}"] = (resp.status_code, _problems(path, method, resp))
    assert [code for code, _ in answers.values()] == [200] * 7 + [404, 201, 200, 200, 200, 409]
    assert {url: problems for url, (_, problems) in answers.items() if problems} == {}

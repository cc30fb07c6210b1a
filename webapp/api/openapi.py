"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of the JSON API."""

from flask import jsonify

from ..domain.states import FILL_STATES
from ..domain.states import RECORDING_STATUSES
from ..models import JOB_STATES
from . import bp

_ERR = {"$ref": "#/components/responses/Error"}


def _op(summary, responses, params=None, body=None, tags=("gaps",)):
    op = {"summary": summary, "tags": list(tags), "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _json(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


CAMERA = {
    "name": "camera_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
}
GAP_ID = {"name": "gap_id", "in": "path", "required": True, "schema": {"type": "string"}}
TIME = {"type": "string", "format": "date-time"}
GAP = {"$ref": "#/components/schemas/RecordingGap"}


def document() -> dict:
    """Build the document (kept in code beside the routes it describes)."""
    # Every route may also answer 413 (body over MAX_CONTENT_LENGTH) and 503 + Retry-After
    # (database locked or unreachable).
    errors_4xx = {str(s): _ERR for s in (400, 401, 403, 404, 413, 503)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Replenish API",
            "version": "1.0.0",
            "description": "Recording gaps of cameras and their ANR fill state.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/cameras": {
                "get": _op(
                    "Cameras in scope with per-state gap counts",
                    {
                        "200": _json(
                            {"type": "array", "items": {"$ref": "#/components/schemas/Camera"}}
                        ),
                        "401": _ERR,
                    },
                    tags=("cameras",),
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps": {
                "get": _op(
                    "The camera's recording gaps, newest gap_start first",
                    {
                        "200": {
                            **_json({"type": "array", "items": GAP}),
                            "headers": {
                                "Link": {
                                    "description": 'rel="next" URL with the before cursor',
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        **errors_4xx,
                    },
                    [
                        CAMERA,
                        {"name": "state", "in": "query", "schema": {"enum": list(FILL_STATES)}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "default": 500,
                                "minimum": 1,
                                "maximum": 5000,
                            },
                            "description": "Clamped to 1..5000; not an integer: 400.",
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Cursor from the Link header.",
                        },
                    ],
                ),
                "post": _op(
                    "Report a gap (integration/admin) or queue a chosen window (manager)",
                    {
                        "201": _json(GAP, "Created"),
                        "200": _json(GAP, "Existed (end extended)"),
                        "409": _ERR,
                        "422": _ERR,
                        **errors_4xx,
                    },
                    [CAMERA],
                    {
                        "type": "object",
                        "required": ["gap_start", "gap_end"],
                        "properties": {
                            "gap_start": TIME,
                            "gap_end": TIME,
                            "manual": {
                                "type": "boolean",
                                "description": "Queue as an operator's window (manager+).",
                            },
                        },
                    },
                ),
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/{gap_id}/retry": {
                "post": _op(
                    "Send a gap back to the fill queue (manager+)",
                    {"200": _json(GAP), "409": _ERR, **errors_4xx},
                    [CAMERA, GAP_ID],
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/retry-failed": {
                "post": _op(
                    "Send every failed, partial and expired gap back to the queue (manager+); "
                    "above BULK_RETRY_SYNC_LIMIT gaps a job does it (202, Location: the job)",
                    {
                        "200": _json(
                            {"type": "object", "properties": {"retried": {"type": "integer"}}}
                        ),
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "retried": {"type": "null"},
                                    "job": {"$ref": "#/components/schemas/Job"},
                                },
                            },
                            "Accepted: a background job retries the gaps",
                        ),
                        **errors_4xx,
                    },
                    [CAMERA],
                )
            },
            "/api/v1/jobs/{job_id}": {
                "get": _op(
                    "A background job's progress (404 for a job of a camera outside your scope)",
                    {"200": _json({"$ref": "#/components/schemas/Job"}), **errors_4xx},
                    [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    tags=("jobs",),
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/{gap_id}/stop": {
                "post": _op(
                    "Stop a running fill (manager+)",
                    {"200": _json(GAP), "409": _ERR, **errors_4xx},
                    [CAMERA, GAP_ID],
                )
            },
            "/api/v1/cameras/{camera_id}/gaps": {
                "get": _op(
                    "Holes in segment coverage over a window of at most 7 days",
                    {
                        "200": _json(
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "start": TIME,
                                        "end": TIME,
                                        "seconds": {"type": "number"},
                                    },
                                },
                            }
                        ),
                        **errors_4xx,
                    },
                    [
                        CAMERA,
                        {"name": "from", "in": "query", "schema": TIME},
                        {"name": "to", "in": "query", "schema": TIME},
                        {
                            "name": "min_seconds",
                            "in": "query",
                            "schema": {"type": "number", "default": 3},
                        },
                    ],
                    tags=("coverage",),
                )
            },
            "/api/v1/embed-sessions": {
                "post": _op(
                    "Mint a single-use embed sign-on URL (admin/integration)",
                    {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "url": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                },
                            }
                        ),
                        "422": _ERR,
                        **errors_4xx,
                    },
                    None,
                    {
                        "type": "object",
                        "required": ["username"],
                        "properties": {
                            "username": {"type": "string"},
                            "camera_id": {"type": "string"},
                            "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 300},
                        },
                    },
                    tags=("embed",),
                )
            },
            "/api/v1/openapi.json": {
                "get": _op("This document", {"200": _json({"type": "object"})}, tags=("meta",))
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "replenish_session",
                    "description": "Browser session; POSTs also need X-CSRFToken.",
                },
            },
            "responses": {"Error": _json({"$ref": "#/components/schemas/Error"}, "Error")},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "RecordingGap": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "camera_id": {"type": "string"},
                        "gap_start": TIME,
                        "gap_end": TIME,
                        "gap_seconds": {"type": "integer"},
                        "fill_state": {"enum": list(FILL_STATES)},
                        "fill_attempts": {"type": "integer"},
                        "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                        "filled_at": {"type": ["string", "null"], "format": "date-time"},
                        "created_at": TIME,
                        "last_error": {"type": ["string", "null"]},
                        "recovered_seconds": {"type": ["number", "null"]},
                        "progress": {"type": ["number", "null"]},
                        "manual_retry": {"type": "boolean"},
                    },
                },
                "Job": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "kind": {"type": "string"},
                        "camera_id": {"type": ["string", "null"]},
                        "requested_by": {"type": "string"},
                        "total": {"type": "integer"},
                        "done": {"type": "integer"},
                        "state": {"enum": list(JOB_STATES)},
                        "error": {"type": ["string", "null"]},
                        "created_at": TIME,
                        "updated_at": TIME,
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Camera": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "site": {"type": "string"},
                        "timezone": {"type": "string"},
                        "vendor": {"type": "string"},
                        "anr_enabled": {"type": "boolean"},
                        "enabled": {"type": "boolean"},
                        "counts": {
                            "type": "object",
                            "properties": {s: {"type": "integer"} for s in FILL_STATES},
                        },
                        "missing_seconds": {"type": "integer"},
                        "newest_gap_start": {"type": ["string", "null"], "format": "date-time"},
                        "recording_status": {
                            "type": "string",
                            "enum": list(RECORDING_STATUSES),
                            "description": "stale: enabled, newest footage older than "
                            "ANR_STALE_MINUTES; never: no footage ever indexed",
                        },
                        "last_segment_end": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI document (signed-in principals only, like the rest of the API)."""
    return jsonify(document())

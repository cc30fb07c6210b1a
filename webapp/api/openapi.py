"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of the JSON API."""

from flask import jsonify

from ..domain.states import FILL_OUTCOMES
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
NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
NULL_STR = {"type": ["string", "null"]}
LINK_NEXT = {"description": 'rel="next" URL with the before cursor', "schema": {"type": "string"}}
LINK_NEXT_PREV = {
    "description": 'rel="next" and rel="prev" URLs with their before cursors',
    "schema": {"type": "string"},
}
_GAP_WINDOW = {
    "gap_id": {"type": "string"},
    "camera_id": {"type": "string"},
    "camera_name": {"type": "string"},
    "gap_start": TIME,
    "gap_end": TIME,
}
BINARY = {"type": "string", "format": "binary"}
FOOTAGE = {
    "type": "object",
    "properties": {
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": r"^\d{8}_\d{6}\.mp4$"},
                    "start": TIME,
                    "end": TIME,
                    "seconds": {"type": "number"},
                    "size_bytes": {"type": "integer"},
                    "sha256": {"type": ["string", "null"], "description": "null: not hashed"},
                    "url": {"type": "string", "description": "The archive file route"},
                },
            },
        }
    },
}
RUNNING = {
    "type": "object",
    "properties": {
        **_GAP_WINDOW,
        "site": {"type": "string"},
        "gap_seconds": {"type": "integer"},
        "method": {"type": "string"},
        "progress": {"type": "number"},
        "started_at": NULL_TIME,
        "speed": {"type": ["number", "null"], "description": "Multiple of real time."},
        "eta_seconds": {"type": ["integer", "null"]},
        "requested_by": {"type": ["string", "null"], "description": "null: automatic"},
        "stop_requested_by": NULL_STR,
        "worker_id": NULL_STR,
        "attempt": {"type": "integer"},
    },
}
QUEUED = {
    "type": "object",
    "properties": {
        **_GAP_WINDOW,
        "position": {"type": "integer"},
        "site": {"type": "string"},
        "gap_seconds": {"type": "integer"},
        "manual": {"type": "boolean"},
        "requested_by": NULL_STR,
        "requested_at": NULL_TIME,
        "card_keeps_until": TIME,
        "fill_attempts": {"type": "integer"},
        "last_error": NULL_STR,
    },
}
OUTCOME = {
    "type": "object",
    "properties": {
        **_GAP_WINDOW,
        "run_id": {"type": "integer"},
        "method": {"type": "string"},
        "outcome": {"type": "string"},
        "started_at": TIME,
        "ended_at": TIME,
        "recovered_seconds": {"type": ["number", "null"]},
        "bytes": {"type": ["integer", "null"]},
        "error": NULL_STR,
        "requested_by": NULL_STR,
    },
}
WORKER = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "host": {"type": "string"},
        "pid": {"type": "integer"},
        "started_at": TIME,
        "seen_at": TIME,
        "heartbeat_age_seconds": {"type": "number"},
        "late": {"type": "boolean"},
        "running": {"type": "integer"},
        "concurrency": {"type": "integer"},
    },
}


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
                    "Cameras in scope with per-state gap counts, those needing attention first "
                    "(failed, then partial, then expired gaps), then by newest gap",
                    {
                        "200": {
                            **_json(
                                {"type": "array", "items": {"$ref": "#/components/schemas/Camera"}}
                            ),
                            "headers": {"Link": LINK_NEXT_PREV},
                        },
                        "400": _ERR,
                        "401": _ERR,
                    },
                    [
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 100},
                            "description": "Search in id, name and site (case-insensitive).",
                        },
                        {"name": "site", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "attention",
                            "in": "query",
                            "schema": {"enum": ["1", "0", "true", "false"]},
                            "description": "1: only cameras that need attention.",
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "default": 500,
                                "minimum": 1,
                                "maximum": 1000,
                            },
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Cursor from the Link header (next or prev).",
                        },
                    ],
                    tags=("cameras",),
                )
            },
            "/api/v1/queue": {
                "get": _op(
                    "The fill queue: running fills, queued gaps in claim order (manual "
                    "requests oldest first, then automatic gaps by card-overwrite time), the "
                    "outcomes 50 at a time (newest first, by outcome) and the workers",
                    {
                        "200": {
                            **_json({"$ref": "#/components/schemas/Queue"}),
                            "headers": {"Link": LINK_NEXT},
                        },
                        **errors_4xx,
                    },
                    [
                        {"name": "camera", "in": "query", "schema": {"type": "string"}},
                        {"name": "site", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "default": 100,
                                "minimum": 1,
                                "maximum": 1000,
                            },
                            "description": "Queued gaps per page.",
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Cursor of the next queued page (Link header).",
                        },
                        {
                            "name": "outcome",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(FILL_OUTCOMES)},
                            "description": "Keep only the recent outcomes that ended so.",
                        },
                        {
                            "name": "outcomes_before",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Cursor of the older outcomes (`recent_next`).",
                        },
                    ],
                    tags=("queue",),
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/{gap_id}/runs": {
                "get": _op(
                    "Every fill attempt of a gap, newest first (Retry keeps them)",
                    {
                        "200": _json(
                            {"type": "array", "items": {"$ref": "#/components/schemas/FillRun"}}
                        ),
                        **errors_4xx,
                    },
                    [CAMERA, GAP_ID],
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/retry-selected": {
                "post": _op(
                    "Send the chosen gaps back to the queue (manager+); filled or running ones "
                    "are skipped; one audit row",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "retried": {"type": "integer"},
                                    "skipped": {"type": "integer"},
                                    "gap_ids": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        ),
                        "409": _ERR,
                        **errors_4xx,
                    },
                    [CAMERA],
                    {
                        "type": "object",
                        "required": ["gap_ids"],
                        "properties": {
                            "gap_ids": {
                                "type": "array",
                                "items": {"type": "string", "maxLength": 64},
                                "minItems": 1,
                                "maxItems": 5000,
                            }
                        },
                    },
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
                    "Send a gap back to the fill queue (manager+); runs even with automatic "
                    "ANR off; 409 no_replay_source when the camera has no source",
                    {"200": _json(GAP), "409": _ERR, **errors_4xx},
                    [CAMERA, GAP_ID],
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/retry-failed": {
                "post": _op(
                    "Send every failed, partial and expired gap back to the queue (manager+); "
                    "above BULK_RETRY_SYNC_LIMIT gaps a job of the ANR worker does it (202, "
                    "Location: the job); while it runs, the same request answers that job",
                    {
                        "200": _json(
                            {"type": "object", "properties": {"retried": {"type": "integer"}}}
                        ),
                        "409": _ERR,
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "retried": {"type": "null"},
                                    "job": {"$ref": "#/components/schemas/Job"},
                                },
                            },
                            "Accepted: a worker job retries the gaps (the running one, if any)",
                        ),
                        **errors_4xx,
                    },
                    [CAMERA],
                )
            },
            "/api/v1/retrievals": {
                "post": _op(
                    "Incident retrieval: queue one window on several cameras (manager+, "
                    "scoped); cameras that refuse are listed with their reason. 403 naming "
                    "cameras outside your scope, 422 naming unknown cameras or a bad window",
                    {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "queued": {"type": "array", "items": {"type": "object"}},
                                    "refused": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                            "Created",
                        ),
                        "422": _ERR,
                        **errors_4xx,
                    },
                    None,
                    {
                        "type": "object",
                        "required": ["camera_ids", "start", "end"],
                        "properties": {
                            "camera_ids": {"type": "array", "items": {"type": "string"}},
                            "start": TIME,
                            "end": TIME,
                        },
                    },
                )
            },
            "/api/v1/cameras/retry-failed": {
                "post": _op(
                    "After a site outage: Retry N failed on every camera of the site in your "
                    "scope (manager+); 202 with the per-camera jobs of the big ones",
                    {
                        "202": _json({"type": "object"}, "Accepted"),
                        "404": _ERR,
                        "422": _ERR,
                        **errors_4xx,
                    },
                    [
                        {
                            "name": "site",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                )
            },
            "/api/v1/cameras/{camera_id}": {
                "delete": _op(
                    "Delete a camera (admin; scope checked before existence): its gaps, fill "
                    "runs and segments go, the audit log keeps its rows, archive files stay on "
                    "disk; one camera_delete audit row",
                    {"204": {"description": "Deleted"}, **errors_4xx},
                    [CAMERA],
                    tags=("cameras",),
                )
            },
            "/api/v1/cameras/{camera_id}/test": {
                "post": _op(
                    "Test connection (admin): reachability, authentication, what the card "
                    "holds, which fill method will run; each check name, ok (true, false, "
                    "null: not asked) and masked text",
                    {"200": _json({"type": "object"}), **errors_4xx},
                    [CAMERA],
                    tags=("cameras",),
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
                    "Stop a running fill (manager+): it ends keeping the footage copied so far "
                    "(partial), else failed",
                    {"200": _json(GAP), "409": _ERR, **errors_4xx},
                    [CAMERA, GAP_ID],
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/{gap_id}/footage": {
                "get": _op(
                    "The archive files that overlap the gap's window, with the SHA-256 taken "
                    "when each was written (any role that can view the camera)",
                    {"200": _json(FOOTAGE), **errors_4xx},
                    [CAMERA, GAP_ID],
                    tags=("evidence",),
                )
            },
            "/api/v1/cameras/{camera_id}/archive/{name}": {
                "get": _op(
                    "One archive MP4 (Accept-Ranges: bytes; a Range request answers 206). The "
                    "camera scope is checked first (403); a name other than YYYYmmdd_HHMMSS.mp4 "
                    "or a missing file is 404",
                    {
                        "200": {
                            "description": "The whole file",
                            "content": {"video/mp4": {"schema": BINARY}},
                        },
                        "206": {
                            "description": "The requested byte range",
                            "content": {"video/mp4": {"schema": BINARY}},
                        },
                        "416": _ERR,
                        **errors_4xx,
                    },
                    [
                        CAMERA,
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": r"^\d{8}_\d{6}\.mp4$"},
                        },
                        {"name": "Range", "in": "header", "schema": {"type": "string"}},
                    ],
                    tags=("evidence",),
                )
            },
            "/api/v1/cameras/{camera_id}/recording-gaps/{gap_id}/export": {
                "post": _op(
                    "Export the gap's footage as evidence (manager+; audited evidence_export): "
                    "a streamed ZIP of the MP4 files, manifest.json (camera, window in UTC and "
                    "camera time, files with SHA-256 and size, fill runs, the gap's audit rows, "
                    "who exported and when) and manifest.sig, an Ed25519 signature of the "
                    "manifest (check it with `flask evidence verify`)",
                    {
                        "200": {
                            "description": "The evidence ZIP",
                            "content": {"application/zip": {"schema": BINARY}},
                        },
                        "409": _ERR,
                        **errors_4xx,
                    },
                    [CAMERA, GAP_ID],
                    tags=("evidence",),
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
                        "fill_window": {
                            "type": ["string", "null"],
                            "description": "HH:MM-HH:MM camera time when automatic fills may "
                            "start; null follows ANR_FILL_WINDOW.",
                        },
                        "counts": {
                            "type": "object",
                            "properties": {s: {"type": "integer"} for s in FILL_STATES},
                        },
                        "missing_seconds": {"type": "integer"},
                        "newest_gap_start": {"type": ["string", "null"], "format": "date-time"},
                        "needs_attention": {"type": "boolean"},
                        "recording_status": {
                            "type": "string",
                            "enum": list(RECORDING_STATUSES),
                            "description": "stale: enabled, newest footage older than "
                            "ANR_STALE_MINUTES; never: no footage ever indexed",
                        },
                        "last_segment_end": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "FillRun": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "gap_id": {"type": "string"},
                        "method": {"enum": ["replay", "download"]},
                        "started_at": TIME,
                        "ended_at": NULL_TIME,
                        "outcome": {
                            "enum": [
                                "running",
                                "filled",
                                "partial",
                                "failed",
                                "stopped",
                                "returned",
                                "lost",
                            ]
                        },
                        "recovered_seconds": {"type": ["number", "null"]},
                        "bytes": {"type": ["integer", "null"]},
                        "error": {"type": ["string", "null"], "description": "Masked."},
                        "requested_by": {
                            "type": ["string", "null"],
                            "description": "The operator who asked; null for automatic work.",
                        },
                        "worker_id": {"type": "string"},
                        "duration_seconds": {"type": ["number", "null"]},
                    },
                },
                "Queue": {
                    "type": "object",
                    "properties": {
                        "running": {"type": "array", "items": RUNNING},
                        "queued": {"type": "array", "items": QUEUED},
                        "queued_total": {"type": "integer"},
                        "not_queued": {
                            "type": "integer",
                            "description": "Pending automatic gaps of cameras with ANR off.",
                        },
                        "recent": {"type": "array", "items": OUTCOME},
                        "recent_next": {
                            "type": ["string", "null"],
                            "description": "Cursor of the next 50 older outcomes "
                            "(`?outcomes_before=`, same `outcome`); null at the end.",
                        },
                        "workers": {"type": "array", "items": WORKER},
                        "fill_window": {"type": ["string", "null"]},
                        "camera_windows": {
                            "type": "array",
                            "description": "Cameras with their own fill window (it overrides "
                            "fill_window), open now or not.",
                            "items": {"type": "object"},
                        },
                        "jobs": {
                            "type": "array",
                            "description": "Bulk retries running now or ended in the last day.",
                            "items": {
                                "allOf": [
                                    {"$ref": "#/components/schemas/Job"},
                                    {
                                        "type": "object",
                                        "properties": {
                                            "camera_name": {"type": "string"},
                                            "percent": {"type": "integer"},
                                        },
                                    },
                                ]
                            },
                        },
                    },
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI document (signed-in principals only, like the rest of the API)."""
    return jsonify(document())

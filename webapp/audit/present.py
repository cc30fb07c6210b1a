"""Audit rows as a person reads them: actions in words, camera names, gap windows in camera time.

The stored row keeps codes and JSON (stable for the CSV and for tools); the page shows this.
"""

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from sqlalchemy import select

from ..domain.states import FILL_STATES
from ..domain.times import parse_time
from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..pages.presenters import STATE_LABELS
from ..pages.presenters import duration_words
from ..pages.presenters import local_time

ACTION_LABELS = {
    "anr_retry_gap": "Retried a gap",
    "anr_retry_failed": "Retried all failed gaps",
    "anr_retry_selected": "Retried selected gaps",
    "anr_stop_fill": "Stopped a fill",
    "anr_manual_window": "Queued a chosen window",
    "anr_ingest_gap": "Recorder reported a gap",
    "camera_create": "Added a camera",
    "camera_update": "Changed camera settings",
    "login_locked": "Sign-in locked",
    "user_create": "Added a user",
    "user_disable": "Disabled a user",
    "user_enable": "Enabled a user",
    "user_unlock": "Unlocked a user",
    "user_set_password": "Set a user's password",
    "apikey_create": "Created an API key",
    "apikey_revoke": "Revoked an API key",
    "embed_session_create": "Started an embedded session",
    "evidence_export": "Exported evidence",
}
DETAIL_LABELS = {
    "previous_state": "State before",
    "count": "Gaps",
    "gap_ids": "Gaps",
    "gap_start": "From",
    "gap_end": "To",
    "gap_seconds": "Length",
    "ttl_seconds": "Valid for",
    "changed": "Changed",
    "cameras": "Cameras",
    "jti": "Token id",
    "username": "User",
    "role": "Role",
    "name": "Name",
    "files": "Files",
}
# The camera is its own column; these would only repeat it.
HIDDEN_DETAIL = {"camera_id"}
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MAX_LIST_ITEMS = 5
# Details that list camera ids (a user's scope, an incident window's queued and refused
# cameras): shown by the cameras' names. Gap id lists are shown as their count.
CAMERA_LIST_KEYS = frozenset({"cameras", "queued", "refused"})


def action_label(action: str) -> str:
    """``anr_retry_gap`` -> ``Retried a gap``; unknown codes become plain words."""
    return ACTION_LABELS.get(action) or action.replace("_", " ").capitalize()


@dataclass
class AuditRowView:
    """One audit row, ready to print."""

    row: object
    action_label: str
    camera: object | None  # (id, name, timezone) or None
    target: str
    target_gap_id: str | None
    details: list[tuple[str, str]] = field(default_factory=list)


def _camera_ids(detail: dict) -> set[str]:
    """The camera ids a row's detail lists (``CAMERA_LIST_KEYS``)."""
    return {
        v
        for k in CAMERA_LIST_KEYS
        if isinstance(detail.get(k), list)
        for v in detail[k]
        if isinstance(v, str)
    }


def _value(key: str, value, tz: str | None, names: dict | None = None) -> str:
    """A detail value in words: states by name, times in camera time, lists shortened.

    ``names``: camera id -> name, for the camera lists (an id no camera has any more stays).
    """
    if value is None or value == "" or value == []:
        return "—"
    if key in CAMERA_LIST_KEYS and isinstance(value, list) and names is not None:
        value = [names.get(v, v) if isinstance(v, str) else v for v in value]
    if key == "gap_ids" and isinstance(value, list):
        return f"{len(value)} gap{'s' if len(value) != 1 else ''}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "previous_state" and value in FILL_STATES:
        return STATE_LABELS[value]
    if key in ("ttl_seconds", "gap_seconds") and isinstance(value, int | float):
        return duration_words(value)
    if isinstance(value, str) and _TIME.match(value) and (when := parse_time(value)):
        return local_time(when, tz or "UTC")
    if isinstance(value, list):
        shown = [str(v) for v in value[:MAX_LIST_ITEMS]]
        more = len(value) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(k, v, tz)}" for k, v in value.items())
    return str(value)


def present(rows) -> list[AuditRowView]:
    """The page's audit rows with camera names (also in the camera lists of the details) and gap
    windows (two small queries a page)."""
    camera_ids = {r.subject_camera_id for r in rows if r.subject_camera_id}
    listed = set().union(*(_camera_ids(r.detail) for r in rows if isinstance(r.detail, dict)))
    camera_ids |= listed
    cameras = {
        c.id: c
        for c in db.session.execute(
            select(Camera.id, Camera.name, Camera.timezone).where(Camera.id.in_(camera_ids))
        )
    }
    gap_ids = {r.target_id for r in rows if r.target_type == "recording_gap" and r.target_id}
    gaps = {
        g.id: g
        for g in db.session.execute(
            select(RecordingGap.id, RecordingGap.gap_start, RecordingGap.gap_end).where(
                RecordingGap.id.in_(gap_ids)
            )
        )
    }
    names = {c.id: c.name for c in cameras.values()}
    out = []
    for row in rows:
        camera = cameras.get(row.subject_camera_id)
        tz = camera.timezone if camera else "UTC"
        detail = row.detail if isinstance(row.detail, dict) else {}
        target, gap_id = _target(row, gaps.get(row.target_id), tz, detail)
        pairs = [
            (DETAIL_LABELS.get(k) or k.replace("_", " ").capitalize(), _value(k, v, tz, names))
            for k, v in detail.items()
            if k not in HIDDEN_DETAIL
        ]
        out.append(AuditRowView(row, action_label(row.action), camera, target, gap_id, pairs))
    return out


def _target(row, gap, tz: str, detail: dict) -> tuple[str, str | None]:
    """What the action was about, in words; a gap by its window in camera time."""
    if row.target_type == "recording_gap":
        if gap is not None:
            return f"Gap {_window(gap.gap_start, gap.gap_end, tz)}", gap.id
        if "gap_start" in detail and "gap_end" in detail:
            return "Gap (since removed)", None
        return "A gap (since removed)", None
    if row.target_type == "camera":
        return "Camera", None
    if row.target_type == "user":
        return f"User {detail.get('username', '')}".strip(), None
    if row.target_type == "api_key":
        return f"API key {detail.get('name', '')}".strip(), None
    return row.target_type.replace("_", " ").capitalize(), None


def _window(start: datetime, end: datetime, tz: str) -> str:
    """``2026-06-13 14:00:00 to 14:10:00 +02:00`` (the date once when it is the same day)."""
    a = local_time(start, tz)
    b = local_time(end, tz)
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a[:19]} to {b}" if a[20:] == b[-6:] else f"{a} to {b}"

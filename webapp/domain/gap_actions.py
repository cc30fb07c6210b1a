"""Gap actions shared by the JSON API and the pages: load, change state, audit.

Each function changes rows and writes the audit row in the caller's session; the caller commits
once, so a change and its audit row land together or not at all.
"""

from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import RecordingGap
from ..models import rfc3339
from ..models import utcnow
from . import bulk_retry
from . import gapstate
from .audit import record
from .errors import BadParameter
from .errors import Conflict
from .errors import Invalid
from .errors import NotFound
from .replay_urls import source_problem
from .times import parse_time
from .times import wall_clock_seconds

FUTURE_SKEW = timedelta(seconds=60)


def gap_of(camera, gap_id: str, lock: bool = False) -> RecordingGap:
    """The camera's gap ``gap_id``; a gap of another camera is as unknown as a missing one."""
    query = select(RecordingGap).where(
        RecordingGap.id == gap_id, RecordingGap.camera_id == camera.id
    )
    if lock:
        query = query.with_for_update()
    gap = db.session.execute(query).scalar_one_or_none()
    if gap is None:
        raise NotFound(f"recording gap {gap_id[:64]} not found")
    return gap


def _change_gap(camera, gap_id: str, action: str, change, actor) -> RecordingGap:
    """Lock the camera's gap, apply ``change`` (409 on a state conflict), write the audit row.

    ``change(gap)`` returns extra audit detail. The caller commits.
    """
    gap = gap_of(camera, gap_id, lock=True)
    try:
        detail = change(gap)
    except gapstate.GapConflict as exc:
        raise Conflict(str(exc), "gap_state_conflict") from None
    record(
        action,
        "recording_gap",
        gap.id,
        camera_id=camera.id,
        detail={"camera_id": camera.id, **detail},
        actor=actor,
    )
    return gap


def fill_problem(camera) -> tuple[str, str] | None:
    """Why no operator's request could run on this camera: (code, words naming the fix).

    Manual requests run whatever the camera's automatic ANR setting, so the only reasons one
    could wait forever are a disabled camera or no source to fetch from.
    """
    if not camera.enabled:
        return (
            "camera_disabled",
            f"camera {camera.id} is disabled; enable it in its settings to fetch footage",
        )
    problem = source_problem(camera)
    if problem:
        return "no_replay_source", problem
    return None


def ensure_fillable(camera) -> None:
    """Refuse (409) at once an operator's request that could never run on this camera."""
    problem = fill_problem(camera)
    if problem:
        code, words = problem
        raise Conflict(words, code)


def retry_one(camera, gap_id: str, actor) -> RecordingGap:
    """Send one gap back to the fill queue as ``actor``'s request (audited)."""
    ensure_fillable(camera)
    return _change_gap(
        camera,
        gap_id,
        "anr_retry_gap",
        lambda gap: {"previous_state": gapstate.retry(gap, actor.actor_name)},
        actor,
    )


def retry_all_failed(camera, actor) -> bulk_retry.Retried:
    """Retry every failed/partial/expired gap with ONE audit row (or a job); the caller commits.

    Refused at once (409) when the camera could never run the request.
    """
    ensure_fillable(camera)
    return bulk_retry.retry_failed(camera, actor)


MAX_SELECTED = 5000


def parse_gap_ids(raw) -> list[str]:
    """The ids of a Retry selected request: a non-empty list of gap id strings (else 400)."""
    if not isinstance(raw, list) or not raw:
        raise BadParameter("gap_ids must be a non-empty list of recording gap ids", "invalid_ids")
    if len(raw) > MAX_SELECTED:
        raise BadParameter(
            f"at most {MAX_SELECTED} gap ids at once (got {len(raw)})", "invalid_ids"
        )
    if not all(isinstance(i, str) and 0 < len(i) <= 64 for i in raw):
        raise BadParameter("every gap id must be a string of 1 to 64 characters", "invalid_ids")
    return list(dict.fromkeys(raw))


def retry_selected(camera, gap_ids: list[str], actor) -> bulk_retry.Retried:
    """Retry the chosen gaps of a camera in set-based batches, ONE audit row; filled and
    filling ones are skipped (``skipped``). Refused at once when the camera cannot run it."""
    ensure_fillable(camera)
    return bulk_retry.retry_selected(camera, gap_ids, actor)


def stop_one(camera, gap_id: str, actor) -> RecordingGap:
    """Ask the worker holding a running fill to stop it, for ``actor`` (audited)."""

    def stop(gap):
        gapstate.request_stop(gap, actor.actor_name)
        return {}

    return _change_gap(camera, gap_id, "anr_stop_fill", stop, actor)


def validate_window(start_raw, end_raw) -> tuple:
    """Parse and check an API gap window (RFC 3339 text); 422 with per-field messages."""
    return check_window(parse_time(start_raw), parse_time(end_raw))


# What is wrong with a window, per field, in the API's words (its field names); the page's
# window form says the same things in its own words (webapp/pages/forms.py, WINDOW_WORDS).
API_WINDOW_WORDS = {
    "start_missing": "must be an RFC 3339 time such as 2026-06-13T12:00:00Z",
    "end_missing": "must be an RFC 3339 time such as 2026-06-13T12:05:00Z",
    "end_not_after_start": "must be later than gap_start",
    "too_long": "a gap may not be longer than 31 days",
    "start_in_future": "must not be in the future",
}


def window_problems(start, end, in_zone=None) -> dict[str, str]:
    """What is wrong with a window of parsed times (None: unparsable): field -> problem code.

    With ``in_zone`` (the page's form, in camera time) the 31 days are calendar days on the
    camera's clock, so a window across a daylight-saving change may be an hour longer in UTC.
    """
    problems = {}
    if start is None:
        problems["gap_start"] = "start_missing"
    if end is None:
        problems["gap_end"] = "end_missing"
    if start and end:
        if end <= start:
            problems["gap_end"] = "end_not_after_start"
        elif length_seconds(start, end, in_zone) > gapstate.MAX_GAP_SECONDS:
            problems["gap_end"] = "too_long"
    if start and start > utcnow() + FUTURE_SKEW:
        problems["gap_start"] = "start_in_future"
    return problems


def length_seconds(start, end, in_zone=None) -> float:
    """A window's length: in UTC, or on ``in_zone``'s wall clock (see ``window_problems``)."""
    if in_zone is None:
        return (end - start).total_seconds()
    return wall_clock_seconds(start, end, in_zone)


def check_window(start, end, words=None, in_zone=None) -> tuple:
    """Check a gap window of parsed times (None: unparsable); 422 with per-field messages."""
    words = words or API_WINDOW_WORDS
    # Whole seconds, as stored; truncating first means a sub-second window is refused below.
    start = start.replace(microsecond=0) if start else None
    end = end.replace(microsecond=0) if end else None
    problems = window_problems(start, end, in_zone)
    if problems:
        fields = {field: words[code] for field, code in problems.items()}
        raise Invalid("the recording gap is not valid", fields=fields)
    return start, end


class WindowOverlap(Conflict):
    """The window overlaps a recorded gap, which ``gap`` names."""

    def __init__(self, gap):
        super().__init__(
            f"the window overlaps recording gap {gap.id} "
            f"({rfc3339(gap.gap_start)} to {rfc3339(gap.gap_end)}, {gap.fill_state})",
            "gap_overlap",
        )
        self.gap = gap


def check_window_queueable(camera, start, end) -> None:
    """Raise what ``queue_window`` would refuse with (409), so a page offers only what works."""
    ensure_fillable(camera)
    gapstate.lock_camera(camera.id)
    clash = gapstate.overlapping_gap(camera.id, start, end)
    if clash is not None:
        raise WindowOverlap(clash)


def queue_window(camera, start, end, actor):
    """Queue ``actor``'s chosen window as a manual gap; 409 naming an overlapping gap."""
    check_window_queueable(camera, start, end)
    requested_by = actor.actor_name
    gap, _ = gapstate.record_gap(camera.id, start, end, manual=True, requested_by=requested_by)
    record(
        "anr_manual_window",
        "recording_gap",
        gap.id,
        camera_id=camera.id,
        detail={"camera_id": camera.id, "gap_start": rfc3339(start), "gap_end": rfc3339(end)},
        actor=actor,
    )
    return gap


def ingest_gap(camera, start, end, actor) -> tuple[RecordingGap, bool]:
    """Record a reported gap (idempotent); audited when it is new or its end grows.

    A report overlapping another gap (another start) is a 409 naming it, as for chosen windows:
    a 201 would count the same time twice. A later end of a filled or filling gap comes back
    as the pending gap holding the new stretch (``gapstate.record_gap``).
    """
    gapstate.lock_camera(camera.id)
    before = db.session.execute(
        select(RecordingGap.gap_end).where(
            RecordingGap.camera_id == camera.id, RecordingGap.gap_start == start
        )
    ).scalar_one_or_none()
    # Only the time past the gap already at this start is new; the gap after it (what an
    # earlier later end became) is its continuation, not a clash.
    check_from = start if before is None else before
    if end > check_from:
        clash = gapstate.overlapping_gap(camera.id, check_from, end, other_than_start=True)
        if clash is not None:
            raise WindowOverlap(clash)
    gap, created = gapstate.record_gap(camera.id, start, end)
    if created or gap.gap_end != before:
        record(
            "anr_ingest_gap",
            "recording_gap",
            gap.id,
            camera_id=camera.id,
            detail={
                "camera_id": camera.id,
                "gap_start": rfc3339(start),
                "gap_end": rfc3339(gap.gap_end),
                "created": created,
            },
            actor=actor,
        )
    return gap, created

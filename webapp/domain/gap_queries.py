"""Read queries shared by the JSON API and the pages: the gap list, counts and the fleet."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter
from sqlalchemy import Row
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import type_coerce

from ..extensions import db
from ..masking import mask_credentials
from ..models import CameraGapStat
from ..models import RecordingGap
from ..models import Segment
from ..models.types import stored_rfc3339
from .errors import BadParameter
from .gapstate import MAX_STORED_GAP_SECONDS
from .paging import encode_cursor
from .states import FILL_STATES
from .times import stored_time

# Columns the list query fetches: the public fields only, so rows serialise without the ORM.
LIST_COLUMNS = [getattr(RecordingGap, name) for name in RecordingGap.PUBLIC_FIELDS]
# The page also shows who asked to stop a running fill.
PAGE_COLUMNS = [*LIST_COLUMNS, RecordingGap.stop_requested_by]
TIME_FIELDS = ("gap_start", "gap_end", "last_attempt_at", "filled_at", "created_at")
# The JSON list is the hot path (docs/design.md, "Performance"): times come back as the raw
# stored values, formatted by stored_rfc3339 without per-value type processing.
RAW_LIST_COLUMNS = [
    type_coerce(col, String).label(col.key) if col.key in TIME_FIELDS else col
    for col in LIST_COLUMNS
]


def parse_state(raw: str | None) -> str | None:
    """Validate the ``state`` filter: one of the six states, or absent/empty for all."""
    if raw is None or raw == "":
        return None
    if raw not in FILL_STATES:
        raise BadParameter(
            f"state '{raw[:40]}' is not valid; use one of: {', '.join(FILL_STATES)}",
            "invalid_state",
        )
    return raw


@dataclass
class GapPage:
    """One page of a camera's gaps and the cursor of the next page (None at the end)."""

    rows: Sequence[Row[Any]]
    next_cursor: str | None


def _since(query, since: datetime):
    """Gaps that reach into [since, now): ended after ``since``.

    The gap_start bound (no gap is longer than MAX_STORED_GAP_SECONDS) keeps the scan on the
    index.
    """
    return query.where(RecordingGap.gap_end > since, RecordingGap.gap_start > _since_floor(since))


def _since_floor(since: datetime) -> datetime:
    """The earliest start a gap reaching past ``since`` can have."""
    return since - timedelta(seconds=MAX_STORED_GAP_SECONDS)


# One statement per shape of the list query, built once: each execution then only binds values
# (building and hashing the select cost as much as running it for a page of 50).
_LIST_STATEMENTS: dict[tuple, object] = {}


def _list_statement(columns, by_state: bool, by_since: bool, by_before: bool):
    key = (tuple(columns), by_state, by_since, by_before)
    query = _LIST_STATEMENTS.get(key)
    if query is not None:
        return query
    query = select(*columns).where(RecordingGap.camera_id == bindparam("camera_id"))
    if by_state:
        query = query.where(RecordingGap.fill_state == bindparam("state"))
    if by_since:
        query = query.where(
            RecordingGap.gap_end > bindparam("since"),
            RecordingGap.gap_start > bindparam("since_floor"),
        )
    if by_before:
        when: BindParameter[datetime] = bindparam("when")
        query = query.where(
            or_(
                RecordingGap.gap_start < when,
                and_(RecordingGap.gap_start == when, RecordingGap.id < bindparam("gap_id")),
            )
        )
    query = query.order_by(RecordingGap.gap_start.desc(), RecordingGap.id.desc()).limit(
        bindparam("limit")
    )
    _LIST_STATEMENTS[key] = query
    return query


def list_gaps(
    camera_id: str,
    state: str | None,
    limit: int,
    before=None,
    columns=PAGE_COLUMNS,
    since: datetime | None = None,
) -> GapPage:
    """A camera's gaps, newest ``gap_start`` first (ties by id), keyset-paged by ``before``.

    With ``since``, only gaps that reach into the last stretch of time (the chosen range).
    """
    params: dict = {"camera_id": camera_id, "limit": limit + 1}
    if state:
        params["state"] = state
    if since is not None:
        params["since"] = since
        params["since_floor"] = _since_floor(since)  # as in _since
    if before:
        params["when"], params["gap_id"] = before
    query = _list_statement(columns, bool(state), since is not None, bool(before))
    # Core execution: these are plain column rows, and the ORM's row loading costs ~10 µs each.
    rows = db.session.connection().execute(query, params).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last_start = stored_time(rows[-1].gap_start)
        assert last_start is not None  # gap_start is NOT NULL
        next_cursor = encode_cursor(last_start, rows[-1].id)
    return GapPage(rows, next_cursor)


def gap_rows_by_id(camera_id: str, ids: list[str], columns=PAGE_COLUMNS) -> Sequence[Row[Any]]:
    """The camera's gaps with these ids, as ``list_gaps`` rows (a gap of another camera: none)."""
    if not ids:
        return []
    query = select(*columns).where(RecordingGap.camera_id == camera_id, RecordingGap.id.in_(ids))
    return db.session.connection().execute(query).all()


def gap_rows_json(rows) -> list[dict]:
    """Rows of ``list_gaps(..., columns=RAW_LIST_COLUMNS)`` as the API's gap objects."""
    # Unpacked in PUBLIC_FIELDS order: the hot loop of the JSON list.
    stamp = stored_rfc3339
    return [
        {
            "id": gid,
            "camera_id": camera_id,
            "gap_start": stamp(start),
            "gap_end": stamp(end),
            "gap_seconds": seconds,
            "fill_state": state,
            "fill_attempts": attempts,
            "last_attempt_at": stamp(attempted),
            "filled_at": stamp(filled),
            "created_at": stamp(created),
            "last_error": mask_credentials(error) if error else error,
            "recovered_seconds": recovered,
            "progress": progress,
            "manual_retry": bool(manual),
        }
        for (
            gid,
            camera_id,
            start,
            end,
            seconds,
            state,
            attempts,
            attempted,
            filled,
            created,
            error,
            recovered,
            progress,
            manual,
        ) in rows
    ]


def _zero_stats() -> dict:
    return {"counts": dict.fromkeys(FILL_STATES, 0), "seconds": dict.fromkeys(FILL_STATES, 0)}


def window_counts(camera_id: str, since: datetime) -> dict[str, int]:
    """Gaps per state that reach into [since, now): the tab counts of a chosen range."""
    query = _since(
        select(RecordingGap.fill_state, func.count()).where(RecordingGap.camera_id == camera_id),
        since,
    ).group_by(RecordingGap.fill_state)
    counts: dict[str, int] = dict.fromkeys(FILL_STATES, 0)
    for state, n in db.session.execute(query):
        counts[state] = n
    return counts


def state_counts(camera_ids: list[str] | None) -> dict[str, dict]:
    """Per-camera counts and seconds by state, from the maintained statistics (O(cameras)).

    ``None`` reads every camera in one scan (an unscoped fleet needs no IN list).
    """
    query = select(
        CameraGapStat.camera_id,
        CameraGapStat.fill_state,
        CameraGapStat.gap_count,
        CameraGapStat.gap_seconds,
    )
    out: dict[str, dict] = {}
    if camera_ids is not None:
        out = {cid: _zero_stats() for cid in camera_ids}
        if not camera_ids:
            return out
        query = query.where(CameraGapStat.camera_id.in_(camera_ids))
    for cid, state, count, seconds in db.session.execute(query):
        stats = out.get(cid)
        if stats is None:
            stats = out[cid] = _zero_stats()
        stats["counts"][state] = count
        stats["seconds"][state] = seconds
    return out


MAX_HOLES_WINDOW = timedelta(days=7)


def coverage_holes(camera_id: str, start: datetime, end: datetime, min_seconds: float) -> list:
    """Computed absences of segments in [start, end) longer than ``min_seconds``."""
    segs = db.session.execute(
        select(Segment.start_time, Segment.end_time)
        .where(
            Segment.camera_id == camera_id,
            Segment.start_time < end,
            Segment.end_time > start,
        )
        .order_by(Segment.start_time)
    ).all()
    holes = []
    cursor = start
    for seg_start, seg_end in segs:
        if seg_start > cursor and (seg_start - cursor).total_seconds() >= min_seconds:
            holes.append((cursor, min(seg_start, end)))
        cursor = max(cursor, seg_end)
    if end > cursor and (end - cursor).total_seconds() >= min_seconds:
        holes.append((cursor, end))
    return holes

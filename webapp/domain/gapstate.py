"""The gap state machine: every change of a gap's ``fill_state`` goes through this module.

API views, pages, the bulk retry, the indexer and the worker all call these functions, so the
rules of the state machine (docs/design.md, "The gap state machine") are written once. The table
itself, and the names of states and sets of states, live in ``states.py``.

Each function changes rows in the caller's session and keeps the per-camera statistics
(``camera_gap_stats``) in step; the caller commits, together with its audit row.
"""

from datetime import datetime
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sq_insert
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..extensions import rows_matched
from ..models import Camera
from ..models import CameraGapStat
from ..models import RecordingGap
from ..models import new_id
from ..models import utcnow
from .states import ATTENTION
from .states import ENGINE
from .states import FILL_STATES
from .states import FILLED
from .states import FILLING
from .states import OPERATOR
from .states import PENDING
from .states import RETRY_REFUSALS
from .states import GapState
from .states import may_move

MAX_GAP_SECONDS = 31 * 24 * 3600
# The longest a stored gap can be: 31 calendar days of camera time may span a clock change.
MAX_STORED_GAP_SECONDS = MAX_GAP_SECONDS + 2 * 3600


class GapConflict(Exception):
    """The requested change does not fit the gap's current state (answered as 409)."""


# One plain statement run for every (camera, state) row a change touches: the statistics are
# written on every state change, so this is the hottest write in the app (the queue benchmark).
_BUMP_SQL = text(
    "UPDATE camera_gap_stats SET gap_count = gap_count + :count,"
    " gap_seconds = gap_seconds + :seconds, stopped_count = stopped_count + :stopped"
    " WHERE camera_id = :camera_id AND fill_state = :state"
)


# Leaving ``filling`` clears a Stop in the same statement: a Stop that raced the fill's end
# cannot outlive it (request_stop is a compare-and-set on ``filling`` too).
_gaps = RecordingGap.__table__
# A state change in one statement, built once: the new state and the change's fields are its
# parameters (a column named there is set), the stored state is the compare-and-set.
_MOVE = update(_gaps).where(
    _gaps.c.id == bindparam("gap_key"), _gaps.c.fill_state == bindparam("old_state")
)

# The fleet's attention order of a camera, from its statistics and its last recording status
# (webapp/domain/recording_health.py): the worst-state order of ``states.WORST_FIRST`` (a failed
# gap outranks a partial one, which outranks an expired one); gaps an operator stopped do not
# count (docs/fleet-operations.md).
_ATTENTION_SQL = text(
    "UPDATE cameras SET attention = CASE"
    + "".join(
        f" WHEN EXISTS (SELECT 1 FROM camera_gap_stats s WHERE s.camera_id = cameras.id"
        f"  AND s.fill_state = '{state.value}' AND s.gap_count > s.stopped_count)"
        f" THEN {len(ATTENTION) + 1 - rank}"
        for rank, state in enumerate(ATTENTION)
    )
    + " WHEN recording_status IN ('stale', 'never') THEN 1"
    " ELSE 0 END WHERE id = :camera_id"
)


def bump_stats(camera_id: str, *changes: tuple) -> None:
    """Add (state, count, seconds[, stopped]) deltas to a camera's statistics rows.

    Missing rows are created; the camera's fleet attention follows when an attention state moved.
    """
    params = [
        {
            "camera_id": camera_id,
            "state": change[0],
            "count": change[1],
            "seconds": change[2],
            "stopped": change[3] if len(change) > 3 else 0,
        }
        for change in changes
        if change[1] or change[2] or (len(change) > 3 and change[3])
    ]
    if not params:
        return
    result = db.session.execute(_BUMP_SQL, params)
    if rows_matched(result) != len(params):
        for p in params:  # a row is missing (a camera made before its statistics): add it
            exists = db.session.get(CameraGapStat, (camera_id, p["state"]))
            if exists is None:
                db.session.add(
                    CameraGapStat(
                        camera_id=camera_id,
                        fill_state=p["state"],
                        gap_count=p["count"],
                        gap_seconds=p["seconds"],
                        stopped_count=p["stopped"],
                    )
                )
                db.session.flush()
    if any(p["state"] in ATTENTION and (p["count"] or p["stopped"]) for p in params):
        db.session.execute(_ATTENTION_SQL, {"camera_id": camera_id})


def ensure_stat_rows(camera_id: str) -> None:
    """Create the six zeroed statistic rows of a new camera."""
    for state in FILL_STATES:
        db.session.add(CameraGapStat(camera_id=camera_id, fill_state=state))


# What leaving ``filling`` clears: the running fill's progress, its worker's claim and lease, and
# a Stop asked of it.
LEFT_FILLING = dict(progress=None, claimed_by=None, lease_until=None, stop_requested_by=None)


def change_state(gap: RecordingGap, new_state: str, by: str = ENGINE, **fields) -> str:
    """Move ``gap`` to ``new_state`` for ``by`` (checked against TRANSITIONS), keep stats.

    Sets ``fields`` on the gap. Returns the previous state.
    """
    old = gap.fill_state
    if not may_move(old, new_state, by):
        raise GapConflict(f"recording gap {gap.id} cannot go from {old} to {new_state}")
    was_stopped = 1 if gap.stopped_by else 0
    values: dict = {"fill_state": new_state}
    if new_state in (GapState.PENDING, GapState.FILLING, GapState.FILLED):
        values["stopped_by"] = None  # a new attempt (or success) ends the operator's Stop
    values.update(fields)
    if new_state != FILLING:
        values.update(LEFT_FILLING)
    # Compare-and-set on the stored state, the fields in the same statement: a change based on a
    # stale read (another worker, the indexer or an operator got there first) fails here
    # instead of overwriting theirs.
    result = db.session.execute(_MOVE, {"gap_key": gap.id, "old_state": old, **values})
    if rows_matched(result) != 1:
        raise GapConflict(
            f"recording gap {gap.id} changed while this request was running; reload and try again"
        )
    for name, value in values.items():  # written: the session has nothing left to flush
        set_committed_value(gap, name, value)
    now_stopped = 1 if gap.stopped_by else 0
    if old != new_state or was_stopped != now_stopped:
        bump_stats(
            gap.camera_id,
            (old, -1, -gap.gap_seconds, -was_stopped),
            (new_state, 1, gap.gap_seconds, now_stopped),
        )
    return old


def change_state_if_current(gap: RecordingGap, new_state: str, **fields) -> bool:
    """``change_state`` for sweeps, where losing a race to another writer just means skip."""
    try:
        change_state(gap, new_state, **fields)
    except GapConflict:
        return False
    return True


def skip_locked(query):
    """Row-lock gaps for a change; other workers skip them. SQLite renders no lock (one worker)."""
    return query.with_for_update(skip_locked=True, of=RecordingGap)


def retry_refusal(gap_id: str, state: str) -> str | None:
    """Why an operator's Retry may not move a gap in ``state`` (the 409's words); None: it may."""
    if may_move(state, PENDING, OPERATOR):
        return None
    reason = RETRY_REFUSALS.get(state, f"cannot be retried from {state}")
    return f"recording gap {gap_id} {reason}"


def retry(gap: RecordingGap, requested_by: str | None = None) -> str:
    """Send a gap back to the fill queue as an operator's request; returns the previous state.

    Resets the gap row (``retry_reset``); its fill runs (the history of every attempt) stay.
    """
    refusal = retry_refusal(gap.id, gap.fill_state)
    if refusal:
        raise GapConflict(refusal)
    return change_state(gap, PENDING, OPERATOR, **retry_reset(requested_by))


def retry_reset(requested_by: str | None) -> dict:
    """What an operator's Retry sets, for the single and the bulk retry alike: a fresh manual
    request (no attempts, no error, no Stop), who asked, queued as of now.

    ``change_state`` adds what leaving ``filling`` clears (``LEFT_FILLING``); a bulk UPDATE that
    bypasses it sets both (``bulk_retry._move``).
    """
    return dict(
        fill_attempts=0,
        last_attempt_at=None,
        filled_at=None,
        last_error=None,
        manual_retry=True,
        stopped_by=None,
        requested_by=(requested_by or "")[:200] or None,
        queue_at=utcnow(),
    )


RETRY_BATCH = 500  # bounded statements for any database and any size


def retention_hours(camera_hours: float | None) -> float:
    """How long a camera's card keeps footage: its own setting, else ``ANR_MAX_GAP_HOURS``."""
    if camera_hours:
        return float(camera_hours)
    return float(current_app.config.get("ANR_MAX_GAP_HOURS", 72))


def card_deadline(gap_start: datetime, camera_hours: float | None) -> datetime:
    """When the camera's card overwrites footage recorded at ``gap_start`` (about)."""
    return gap_start + timedelta(hours=retention_hours(camera_hours))


def rekey_automatic(camera_id: str) -> int:
    """Recompute the claim key of a camera's queued automatic gaps (its retention changed)."""
    hours = db.session.execute(
        select(Camera.anr_max_gap_hours).where(Camera.id == camera_id)
    ).scalar_one_or_none()
    rows = db.session.execute(
        select(RecordingGap.id, RecordingGap.gap_start).where(
            RecordingGap.camera_id == camera_id,
            RecordingGap.fill_state == GapState.PENDING,
            not_(RecordingGap.manual_retry),
        )
    ).all()
    params = [{"b_id": r.id, "b_at": card_deadline(r.gap_start, hours)} for r in rows]
    for start in range(0, len(params), RETRY_BATCH):
        db.session.execute(
            update(RecordingGap.__table__)
            .where(RecordingGap.__table__.c.id == bindparam("b_id"))
            .values(queue_at=bindparam("b_at")),
            params[start : start + RETRY_BATCH],
        )
    return len(params)


def record_gap(
    camera_id: str,
    gap_start: datetime,
    gap_end: datetime,
    *,
    manual: bool = False,
    requested_by: str | None = None,
) -> tuple[RecordingGap, bool]:
    """Persist a gap, idempotent on (camera, start): a later end extends it. Returns (gap, created).

    ``manual`` marks an operator-chosen window (lifts the age limit, skips the fill window).
    Safe under concurrent reports of the same gap: the insert yields to an existing row
    (ON CONFLICT DO NOTHING) instead of failing on the unique key. A later end of a filled or
    filling gap is recorded as the pending gap after it, which is the one returned.
    """
    seconds = int((gap_end - gap_start).total_seconds())
    if manual:
        queue_at = utcnow()
    else:
        hours = db.session.execute(
            select(Camera.anr_max_gap_hours).where(Camera.id == camera_id)
        ).scalar_one_or_none()
        queue_at = card_deadline(gap_start, hours)
    values = dict(
        id=new_id(),
        camera_id=camera_id,
        gap_start=gap_start,
        gap_end=gap_end,
        gap_seconds=seconds,
        fill_state=GapState.PENDING,
        fill_attempts=0,
        manual_retry=manual,
        created_at=utcnow(),
        queue_at=queue_at,
        requested_by=((requested_by or "")[:200] or None) if manual else None,
    )
    dialect_insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sq_insert
    inserted = db.session.execute(
        dialect_insert(RecordingGap.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["camera_id", "gap_start"])
        .returning(RecordingGap.__table__.c.id)
    ).first()
    created = inserted is not None
    gap = db.session.execute(
        select(RecordingGap)
        .where(RecordingGap.camera_id == camera_id, RecordingGap.gap_start == gap_start)
        .with_for_update()
    ).scalar_one()
    if created:
        bump_stats(camera_id, (GapState.PENDING, 1, seconds))
        db.session.execute(
            update(Camera)
            .where(
                Camera.id == camera_id,
                or_(Camera.newest_gap_start.is_(None), Camera.newest_gap_start < gap_start),
            )
            .values(newest_gap_start=gap_start)
            .execution_options(synchronize_session=False)
        )
    elif gap_end > gap.gap_end and gap.fill_state in (FILLED, FILLING):
        # Time past a filled gap (or a running fill's window) was never fetched: it becomes a
        # pending gap of its own (or extends the one already there), never part of this one.
        return record_gap(camera_id, gap.gap_end, gap_end, manual=manual, requested_by=requested_by)
    elif gap_end > gap.gap_end:
        delta = seconds - gap.gap_seconds
        gap.gap_end = gap_end
        gap.gap_seconds = seconds
        bump_stats(camera_id, (gap.fill_state, 0, delta))
    return gap, created


def lock_camera(camera_id: str) -> None:
    """Serialise gap writes of one camera until commit: check-then-insert cannot race.

    A no-op UPDATE of the camera row: a row lock on PostgreSQL, the write lock on SQLite, so
    two overlapping windows checked at once see each other and one gets its 409.
    """
    db.session.execute(
        update(Camera)
        .where(Camera.id == camera_id)
        .values(newest_gap_start=Camera.newest_gap_start)
        .execution_options(synchronize_session=False)
    )


def overlapping_gap(
    camera_id: str, start: datetime, end: datetime, *, other_than_start: bool = False
) -> RecordingGap | None:
    """The first gap of the camera whose window overlaps [start, end), if any.

    ``other_than_start`` leaves out the gap starting at ``start`` (a re-report of it).
    """
    where = [
        RecordingGap.camera_id == camera_id,
        and_(RecordingGap.gap_start < end, RecordingGap.gap_end > start),
    ]
    if other_than_start:
        where.append(RecordingGap.gap_start != start)
    return db.session.execute(
        select(RecordingGap).where(*where).order_by(RecordingGap.gap_start).limit(1)
    ).scalar_one_or_none()


def recount_stats(camera_ids: list[str] | None = None) -> None:
    """Rebuild statistics and newest gap from the gaps themselves (after a bulk load or repair)."""
    cams = select(Camera.id)
    if camera_ids is not None:
        cams = cams.where(Camera.id.in_(camera_ids))
    ids = list(db.session.execute(cams).scalars())
    stmt_del = db.delete(CameraGapStat)
    if camera_ids is not None:
        stmt_del = stmt_del.where(CameraGapStat.camera_id.in_(ids))
    db.session.execute(stmt_del)
    agg = select(
        RecordingGap.camera_id,
        RecordingGap.fill_state,
        func.count(),
        func.coalesce(func.sum(RecordingGap.gap_seconds), 0),
        func.count(RecordingGap.stopped_by),
    ).group_by(RecordingGap.camera_id, RecordingGap.fill_state)
    if camera_ids is not None:
        agg = agg.where(RecordingGap.camera_id.in_(ids))
    have = {(c, s): (n, sec, stop) for c, s, n, sec, stop in db.session.execute(agg)}
    db.session.add_all(
        CameraGapStat(
            camera_id=c,
            fill_state=s,
            gap_count=have.get((c, s), (0, 0, 0))[0],
            gap_seconds=int(have.get((c, s), (0, 0, 0))[1]),
            stopped_count=have.get((c, s), (0, 0, 0))[2],
        )
        for c in ids
        for s in FILL_STATES
    )
    newest = select(RecordingGap.camera_id, func.max(RecordingGap.gap_start)).group_by(
        RecordingGap.camera_id
    )
    if camera_ids is not None:
        newest = newest.where(RecordingGap.camera_id.in_(ids))
    latest = dict(db.session.execute(newest).tuples().all())
    db.session.flush()
    for cam_id in ids:
        db.session.execute(
            update(Camera)
            .where(Camera.id == cam_id)
            .values(newest_gap_start=latest.get(cam_id))
            .execution_options(synchronize_session=False)
        )
        db.session.execute(_ATTENTION_SQL, {"camera_id": cam_id})


def request_stop(gap: RecordingGap, requested_by: str) -> None:
    """Flag a running fill to be stopped; the worker holding it ends ffmpeg and fails the gap."""
    if gap.fill_state != FILLING:
        raise GapConflict(
            f"recording gap {gap.id} is not being filled (it is {gap.fill_state}); "
            "only a running fill can be stopped"
        )
    # Compare-and-set: a fill that ended since the gap was read takes no stop (and no audit row).
    result = db.session.execute(
        update(RecordingGap)
        .where(RecordingGap.id == gap.id, RecordingGap.fill_state == FILLING)
        .values(stop_requested_by=requested_by[:200])
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        raise GapConflict(
            f"recording gap {gap.id} is no longer being filled; only a running fill can be stopped"
        )
    set_committed_value(gap, "stop_requested_by", requested_by[:200])

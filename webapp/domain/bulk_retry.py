"""Bulk retry at any size: set-based batches, right statistics, one bounded audit row.

Retry-failed moves every failed, partial and expired gap of a camera back to the queue in batches
of ``BATCH``: a batch's ids come from the (camera, state, gap_start) index in keyset order
(``gap_start > the last batch's``, a camera's starts being unique), then ``UPDATE ... WHERE id IN
(...) AND fill_state = s RETURNING ...`` moves them (an id list rather than a subquery, so every
planner uses the primary key) and the statistics move by what the batch really changed. The
keyset makes every batch cost the same: a batch that started from the front again would walk the
index entries every earlier batch left behind (PostgreSQL keeps them until a vacuum), so the job
slowed quadratically. A job keeps its cursor in its ``params`` (``after``), committed with each
batch. Up to ``BULK_RETRY_SYNC_LIMIT`` gaps this runs inside the request; more becomes a job the
worker runs (``domain/jobs.py``) and the request answers 202 at once; an identical request while
it runs gets the same job. Either way ONE audit row records the count, the filter and at most the
first ``AUDIT_IDS`` ids. The actor is a parameter: a job's batches run in the worker, far from any
request, and every gap they move keeps ``requested_by``.
"""

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from ..extensions import db
from ..models import CameraGapStat
from ..models import Job
from ..models import RecordingGap
from . import jobs
from .audit import record
from .gapstate import LEFT_FILLING
from .gapstate import bump_stats
from .gapstate import retry_reset
from .states import ATTENTION
from .states import OPERATOR
from .states import PENDING
from .states import RETRYABLE
from .states import may_move
from .times import parse_time

BATCH = 5000
DONE = "done"  # a cursor's mark for a state walked to its end
AUDIT_IDS = 1000
ID_CHUNK = 1000  # ids bound per statement: far below every database's parameter limit
JOB_KIND = "retry_failed"


@dataclass
class Retried:
    """What a bulk retry did: how many gaps moved, the first ids, and a job when it runs later."""

    count: int = 0
    ids: list[str] = field(default_factory=list)
    job: Job | None = None
    skipped: int = 0

    def note(self, rows) -> None:
        self.count += len(rows)
        room = AUDIT_IDS - len(self.ids)
        if room > 0:
            self.ids.extend(r.id for r in rows[:room])


def _move(
    camera_id: str,
    state: str,
    ids: list[str],
    requested_by: str | None,
    starts: list[datetime] | None = None,
):
    """Move the camera's gaps among ``ids`` that are in ``state``; returns (id, seconds) rows.

    The state is checked again on each row by the UPDATE itself, so a gap another writer moved
    meanwhile is left alone and the statistics move by exactly what changed. ``starts`` (the
    ids' gap starts, ascending, from a keyset batch) bound each statement to its batch's span of
    the (camera, state, gap_start) index: PostgreSQL's planner may walk that index rather than the
    primary key, and without the span it walks every entry earlier batches left behind.
    """
    gaps = RecordingGap.__table__  # Core statements: no ORM bookkeeping for plain columns
    rows: list[Row[Any]] = []
    stopped = 0
    # The single Retry's reset, plus what change_state clears on leaving filling.
    reset = {"fill_state": PENDING, **LEFT_FILLING, **retry_reset(requested_by)}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        where = [gaps.c.id.in_(chunk), gaps.c.camera_id == camera_id, gaps.c.fill_state == state]
        if starts is not None:
            where.append(gaps.c.gap_start.between(starts[start], starts[start + len(chunk) - 1]))
        # Gaps an operator stopped leave the stopped count of their state (fleet attention).
        stopped += (
            db.session.connection()
            .execute(select(func.count()).where(*where, gaps.c.stopped_by.is_not(None)))
            .scalar_one()
        )
        rows += (
            db.session.connection()
            .execute(
                update(gaps).where(*where).values(**reset).returning(gaps.c.id, gaps.c.gap_seconds)
            )
            .all()
        )
    if rows and state != PENDING:
        seconds = sum(r.gap_seconds for r in rows)
        moved_out = (state, -len(rows), -seconds, -stopped)
        bump_stats(camera_id, moved_out, (PENDING, len(rows), seconds))
    return rows


def _batch(camera_id: str, state: str, limit: int, after: datetime | None) -> list[Row[Any]]:
    """The next ``limit`` (id, gap_start) of a camera's gaps in ``state`` after ``after``.

    Keyset order on the (camera, state, gap_start) index: each batch starts where the last one
    ended, so it never re-walks the entries of the gaps already moved.
    """
    gaps = RecordingGap.__table__
    query = select(gaps.c.id, gaps.c.gap_start).where(
        gaps.c.camera_id == camera_id, gaps.c.fill_state == state
    )
    if after is not None:
        query = query.where(gaps.c.gap_start > after)
    return list(db.session.connection().execute(query.order_by(gaps.c.gap_start).limit(limit)))


Cursor = dict[str, str]  # state -> the last gap_start a batch reached (ISO text, JSON-ready)


def retry_batch(
    camera_id: str,
    result: Retried,
    requested_by: str | None,
    limit: int | None = None,
    cursor: Cursor | None = None,
) -> int:
    """Retry up to ``limit`` (``BATCH``) failed, partial or expired gaps; returns how many.

    ``cursor`` (updated in place) says where each state's previous batch ended; 0 means every
    state is walked to its end. Gaps another writer moved meanwhile are stepped over.
    """
    limit = limit or BATCH
    cursor = {} if cursor is None else cursor
    moved = 0
    for state in ATTENTION:
        while moved < limit and cursor.get(state) != DONE:
            after = cursor.get(state)
            want = limit - moved
            rows = _batch(camera_id, state, want, parse_time(after) if after else None)
            cursor[state] = rows[-1].gap_start.isoformat() if len(rows) == want else DONE
            ids, starts = [r.id for r in rows], [r.gap_start for r in rows]
            done = _move(camera_id, state, ids, requested_by, starts)
            result.note(done)
            moved += len(done)
    return moved


def retryable_count(camera_id: str) -> int:
    """How many gaps retry-failed would move, from the per-camera statistics (no scan)."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(CameraGapStat.gap_count), 0)).where(
                CameraGapStat.camera_id == camera_id,
                CameraGapStat.fill_state.in_(ATTENTION),
            )
        ).scalar_one()  # an aggregate: always one row, and coalesce makes it a number
    )


def _audit(action: str, camera, result: Retried, actor, **extra) -> None:
    record(
        action,
        "camera",
        camera.id,
        camera_id=camera.id,
        detail={
            "camera_id": camera.id,
            "count": result.count,
            **extra,
            "gap_ids": result.ids,
            "gap_ids_shown": len(result.ids),
        },
        actor=actor,
    )


def start_retry_failed(camera_ids: list[str], actor) -> Job:
    """A worker job retrying every failed/partial/expired gap of these cameras; the caller commits.

    An identical job (same cameras) already queued or running is returned instead and nothing
    new starts. A new job writes its one audit row (on the camera, or with the camera list).
    The caller checks scope and fillability first.
    """
    cameras = sorted(dict.fromkeys(camera_ids))
    one = cameras[0] if len(cameras) == 1 else None
    params = _job_params(cameras)
    total = sum(retryable_count(c) for c in cameras)
    job, created = jobs.start_once(JOB_KIND, one, params, total, actor)
    if created:
        ids = list(
            db.session.execute(
                select(RecordingGap.id)
                .where(
                    RecordingGap.camera_id.in_(cameras),
                    RecordingGap.fill_state.in_(ATTENTION),
                )
                .limit(AUDIT_IDS)
            ).scalars()
        )
        where = {"camera_id": one} if one else {"camera_ids": cameras}
        detail = {**where, "count": total, "filter": {"states": list(ATTENTION)}}
        detail.update(job_id=job.id, gap_ids=ids, gap_ids_shown=len(ids))
        record("anr_retry_failed", "camera", one, camera_id=one, detail=detail, actor=actor)
    return job


def _job_params(camera_ids: list[str]) -> dict:
    """A retry-failed job's filter: its cameras and the states it moves."""
    return {"camera_ids": camera_ids, "states": list(ATTENTION)}


def retry_failed(camera, actor) -> Retried:
    """Retry every failed/partial/expired gap of a camera, now or as a job; the caller commits.

    Returns the count and first ids, or (above ``BULK_RETRY_SYNC_LIMIT``) the queued job.
    """
    total = retryable_count(camera.id)
    big = total > current_app.config["BULK_RETRY_SYNC_LIMIT"]
    if big or jobs.running(JOB_KIND, camera.id, _job_params([camera.id])):
        job = start_retry_failed([camera.id], actor)
        return Retried(count=job.total, job=job)
    result = Retried()
    cursor: Cursor = {}
    while retry_batch(camera.id, result, actor.actor_name, cursor=cursor):
        pass
    if result.count:
        _audit("anr_retry_failed", camera, result, actor, filter={"states": list(ATTENTION)})
    return result


def run_retry_failed_batch(job: Job) -> int:
    """One batch of a retry-failed job (in the worker): the next camera with gaps left.

    Each camera's keyset cursor goes back into the job's ``params`` and commits with the batch,
    so a job picked up again after a restart goes on where it stopped.
    """
    params = dict(job.params or {})
    camera_ids = params.get("camera_ids") or [job.camera_id]
    after: dict[str, Cursor] = dict(params.get("after") or {})
    moved = 0
    for camera_id in camera_ids:
        cursor = dict(after.get(camera_id) or {})
        moved = retry_batch(camera_id, Retried(), job.requested_by, cursor=cursor)
        after[camera_id] = cursor
        if moved:
            break
    job.params = {**params, "after": after}  # a new dict: the JSON column sees the change
    return moved


def retry_selected(camera, ids: list[str], actor) -> Retried:
    """Retry the chosen gaps of a camera in batches; filled and filling ones are skipped.

    One audit row ``anr_retry_selected`` with the count and the first ids; the caller commits.
    """
    wanted = list(dict.fromkeys(str(i)[:64] for i in ids))
    result = Retried()
    for state in RETRYABLE:
        result.note(_move(camera.id, state, wanted, actor.actor_name))
    result.skipped = len(wanted) - result.count
    if result.count:
        _audit(
            "anr_retry_selected",
            camera,
            result,
            actor,
            filter={"ids": len(wanted), "states": list(RETRYABLE)},
            skipped=result.skipped,
        )
    return result


jobs.register(JOB_KIND, run_retry_failed_batch)
assert all(may_move(s, PENDING, OPERATOR) for s in RETRYABLE), "bulk retry bypasses the table"
